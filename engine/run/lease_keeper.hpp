// A run's leases (docs/leases.md): taken in every target cluster after run_started and before the
// preflight, renewed while the run lasts, released when it ends, whatever way it ends. Another live
// run's lease stops the run before anything changes; a renewal that finds the lease taken by another
// run stops it before its next call, as an interrupt does (RunHost asks lost_reason() before every
// call). Lease writes are not the playbook's changes: they are lease_* events, never `mutation`s,
// and never counted.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/cluster.hpp"
#include "run/event.hpp"
#include "run/lease.hpp"

namespace refit::run {

using NamedClusters = std::vector<std::pair<std::string, cluster::Cluster*>>;

// The time leases are written in, in milliseconds since the Unix epoch: the wall clock against real
// clusters, the virtual clock on its epoch in a simulated world (sim::virtual_epoch_unix_ms()).
using LeaseClock = std::function<std::int64_t()>;

class LeaseKeeper;

// Keeps a keeper's leases renewed until it is destroyed: a thread against real clusters
// (lease_renewal.hpp); a simulated world renews on the run's own time instead (lease_timeline.hpp).
class LeaseRenewal {
 public:
  virtual ~LeaseRenewal() = default;
};
using RenewalStarter = std::function<std::unique_ptr<LeaseRenewal>(LeaseKeeper&)>;

class LeaseKeeper {
 public:
  // `targets`: the run's clusters by the playbook's names (the run's own connections).
  // `force_unlock_command`: how an operator removes this playbook's lease from these clusters at once
  // ("refit unlock eks/upgrade --context prod --force", run::force_unlock_command), for messages.
  LeaseKeeper(EventBus& bus, LeaseOptions options, NamedClusters targets, LeaseClock clock,
              std::string force_unlock_command);
  // Releases what it still holds (a run that ends by an exception releases too).
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Takes the lease in every target, in order. When one cannot be taken (another live run holds it,
  // or the server refuses), the leases already taken are released and the reason is returned:
  // nothing is left changed. Run's thread only.
  std::optional<std::string> acquire();

  // Starts renewing (after acquire succeeded); release() stops it.
  void start_renewal(const RenewalStarter& start);

  // Renews every held lease through `connections` (one per target, in the targets' order: the run's
  // own, or a renewal thread's). Never throws: a server that cannot be reached is a warning, and the
  // renewal is tried again next time. Safe from any thread; its events wait for emit_pending().
  void renew(const std::vector<cluster::Cluster*>& connections);
  // The same through the run's own connections, on the run's thread, and its events emitted.
  void renew_here();

  // Emits the events renewals produced (warnings, lease_lost). Run's thread only.
  void emit_pending();

  // Before a change: why the run must stop (a lease was taken by another run or removed), or none.
  // Emits pending events first. Run's thread only.
  std::optional<std::string> lost_reason();

  // Stops renewing and deletes the leases this run still holds (lease_released); a lease another run
  // has taken is left alone. Never throws: what cannot be deleted is a warning naming the unlock
  // command. Idempotent. Run's thread only.
  void release();

  const NamedClusters& targets() const { return targets_; }
  std::int64_t renew_interval_ms() const { return run::renew_interval_ms(options_.duration_s); }

 private:
  struct Target {
    std::string name;
    cluster::Cluster* cluster = nullptr;
    bool held = false;          // taken and not released
    std::optional<std::string> lost;  // why it is no longer this run's
  };

  std::string lease_text() const;
  std::string held_message(const std::string& cluster, const LeaseState& holder) const;
  std::string lost_message(const std::string& cluster, const RenewResult& found) const;
  void queue(std::string name, EventFields fields);
  void mark_lost(Target& target, const RenewResult& found);

  EventBus& bus_;
  LeaseOptions options_;
  NamedClusters targets_;
  LeaseClock clock_;
  std::string force_unlock_command_;
  std::unique_ptr<LeaseRenewal> renewal_;

  std::mutex mutex_;  // guards what follows: renewals may run on another thread
  std::vector<Target> state_;
  std::vector<std::pair<std::string, EventFields>> pending_;
};

}  // namespace refit::run
