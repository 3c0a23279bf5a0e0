// Leases against real clusters are renewed by a thread, on the wall clock, through connections of its
// own (the run's connections serve the run's thread only). A simulated world renews on the run's own
// virtual time instead (lease_timeline.hpp).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "run/lease_keeper.hpp"

namespace refit::run {

// A connection of the renewal thread's own to target `name`. `pause(ms)` is how its retries wait:
// it returns early when the renewal stops, so that the end of a run never waits out a backoff.
using LeaseConnector =
    std::function<std::unique_ptr<cluster::Cluster>(const std::string& name, std::function<void(std::int64_t)> pause)>;

// Renews from a thread, every quarter of the duration on the wall clock, through connections made by
// `connect` (on the run's thread, when the renewal starts).
RenewalStarter renew_from_thread(LeaseConnector connect);

}  // namespace refit::run
