// How leases are kept fresh in each kind of world. In a simulated world, renewals are events on the
// virtual clock, every quarter of the lease's duration: whatever lets virtual time pass (a wait, a
// sleep, a command's model) renews on the way, and a run that takes no time renews nothing. Against
// real clusters a thread renews on the wall clock through connections of its own (the run's are used
// by the run's thread only).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cluster/sim/virtual_clock.hpp"
#include "run/lease_keeper.hpp"

namespace refit::run {

// Renews through the keeper's own targets when the virtual clock passes each renewal time.
RenewalStarter renew_on_virtual_clock(sim::VirtualClock& clock);

// A connection of the renewal thread's own to target `name`. `pause(ms)` is how its retries wait:
// it returns early when the renewal stops, so that the end of a run never waits out a backoff.
using LeaseConnector =
    std::function<std::unique_ptr<cluster::Cluster>(const std::string& name, std::function<void(std::int64_t)> pause)>;

// Renews from a thread, every quarter of the duration on the wall clock, through connections made by
// `connect` (on the run's thread, when the renewal starts).
RenewalStarter renew_from_thread(LeaseConnector connect);

}  // namespace refit::run
