// A read-only copy of a live cluster, in the fixture format (docs/fixtures.md), so that `refit plan
// --context` can rehearse a playbook in a simulated world that starts as the cluster is, and
// `refit snapshot` can save one. Only reads: a snapshot never changes the cluster.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cluster/cluster.hpp"

namespace refit::cluster {

// A resource type to copy (from the server's discovery: every type that can be listed).
struct SnapshotKind {
  std::string api_version;  // "apps/v1"
  std::string kind;         // "Deployment"
};

struct SnapshotOptions {
  // Secret values: a saved snapshot (a file) holds none; a snapshot kept in memory for a plan may
  // keep them, so that ctx:connect can read a kubeconfig Secret as the real run would.
  bool keep_secret_values = false;
  // Called per kind after it is read: progress for a slow cluster.
  std::function<void(const SnapshotKind&, std::size_t objects)> progress;
};

// Whether a kind is worth copying: the world's history (Events), live measurements (metrics) and
// what controllers derive at once (Endpoints, EndpointSlices) are not state a playbook plans
// against, and would only make the snapshot large.
bool worth_copying(const SnapshotKind& kind);

// The fixture entry of one cluster: { version: gitVersion, objects: [...] }, objects sorted by kind,
// namespace and name; server-managed bookkeeping (managedFields, resourceVersion, generation,
// selfLink) dropped; the uid and the status kept.
nlohmann::json snapshot_cluster(Cluster& cluster, const std::vector<SnapshotKind>& kinds, const SnapshotOptions& options);

// The text a redacted Secret value becomes (base64 of "redacted by refit snapshot").
extern const char* const kRedactedSecretValue;

}  // namespace refit::cluster
