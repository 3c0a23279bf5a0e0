// The Lease that says which run is changing a cluster (docs/leases.md): a coordination.k8s.io/v1
// Lease kube-system/refit-<playbook> whose holderIdentity is the run id. This file reads, takes,
// renews and removes one such Lease in one cluster through the Cluster interface, so that the same
// code works in a simulated world and against a real API server. Times are milliseconds since the
// Unix epoch on the world's clock (lease_keeper.hpp says which clock that is).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "cluster/cluster.hpp"

namespace refit::run {

inline constexpr const char* kLeaseNamespace = "kube-system";

// What a run puts in the Lease it takes.
struct LeaseOptions {
  std::string run_id;            // holderIdentity
  std::string host;              // annotation refit.dev/host
  std::string playbook;          // the playbook's name (eks/upgrade): annotation refit.dev/playbook
  std::int64_t duration_s = 120; // leaseDurationSeconds: renewed every quarter of it
  // A simulated world kept in a file (--sim-state) has a clock that stands still between runs: the
  // lease of a run that died there never expires, and messages say to resume that run instead.
  bool clock_stands_still = false;
};

// What to do about the lease of run `holder` when it died in a world whose clock stands still between
// runs (a kept simulated world), where that lease never expires: resume the run, which takes it again.
std::string resume_holder_text(const std::string& holder);

// refit-<playbook>: the name lowercased, every character a Lease name may not hold (`/`, `_`, ...)
// made `-` ("eks/upgrade" -> "refit-eks-upgrade").
std::string lease_name(const std::string& playbook);
cluster::ObjectRef lease_ref(const std::string& playbook);
// "kube-system/refit-eks-upgrade": the Lease as messages name it.
std::string lease_path(const std::string& playbook);
// How often a run renews a Lease of `duration_s`: four times in each duration, so that a renewal or
// two may fail before it expires.
inline std::int64_t renew_interval_ms(std::int64_t duration_s) { return duration_s * 1000 / 4; }

// A Lease as read from a cluster.
struct LeaseState {
  std::string holder;                       // spec.holderIdentity; empty: nobody holds it
  std::string host;                         // refit.dev/host, when a run of refit wrote it
  std::string playbook;                     // refit.dev/playbook
  std::optional<std::int64_t> acquired_ms;  // spec.acquireTime
  std::optional<std::int64_t> renewed_ms;   // spec.renewTime
  std::int64_t duration_s = 0;              // spec.leaseDurationSeconds (absent: 0, as client-go reads it)
  std::int64_t transitions = 0;             // spec.leaseTransitions
  cluster::Json object;                     // as stored (with its resourceVersion)

  // When it expires unless renewed: the last renewal (else the acquisition) plus its duration. A
  // Lease that says neither expired long ago.
  std::int64_t expires_ms() const;
  bool expired_at(std::int64_t now_ms) const { return holder.empty() || now_ms >= expires_ms(); }
  // "run 20261121-101502-3fa9c1 on host ops-1" (what is known of the holder).
  std::string holder_text() const;
  // "since T, last renewed T, expires T" (or "expired T").
  std::string times_text(std::int64_t now_ms) const;
};

// The Lease, or none when the cluster has none. Throws cluster::ApiError.
std::optional<LeaseState> read_lease(cluster::Cluster& cluster, const std::string& playbook);

// What try_take found and did.
struct TakeResult {
  enum class Kind {
    Created,    // there was none
    TakenAgain, // this run held it already (a resumed or rolled-back run)
    Free,       // it existed without a holder
    TakenOver,  // its holder had stopped renewing it: `previous` says who that was
    Held,       // another run holds it and renews it: nothing was written; `previous` is its state
  };
  Kind kind = Kind::Created;
  std::optional<LeaseState> previous;
};

// Takes the Lease at `now_ms`, with the API server's optimistic concurrency: a create, or an update
// of the resourceVersion read, repeated when another writer came in between. Throws cluster::ApiError
// for anything else the server refuses.
TakeResult try_take(cluster::Cluster& cluster, const LeaseOptions& options, std::int64_t now_ms);

// What a renewal found.
struct RenewResult {
  enum class Kind { Renewed, TakenByOther, Removed };
  Kind kind = Kind::Renewed;
  std::optional<LeaseState> found;  // TakenByOther: who holds it now
};

// Sets renewTime to `now_ms` when this run still holds the Lease. Throws cluster::ApiError when the
// server cannot be asked (the caller tries again at the next renewal).
RenewResult renew(cluster::Cluster& cluster, const LeaseOptions& options, std::int64_t now_ms);

// Deletes the Lease when this run holds it. Returns what was there when it is another run's (not
// deleted), else none. Throws cluster::ApiError.
std::optional<LeaseState> release(cluster::Cluster& cluster, const LeaseOptions& options);

// Deletes the Lease whoever holds it (refit unlock). Returns false when it was already gone.
bool remove_lease(cluster::Cluster& cluster, const std::string& playbook);

}  // namespace refit::run
