// The real world of a run: the target clusters (kubeconfig contexts, through the Kubernetes API
// backend), the wall clock with watch-fed waits, and real commands. It is what `refit apply
// --context` and `--inventory` stand on, as sim::SimRuntime is what `--sim` stands on.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cluster/cluster.hpp"
#include "exec/executor.hpp"
#include "run/inventory.hpp"
#include "run/timeline.hpp"

namespace refit::run {

struct RealWorldOptions {
  Targets targets;
  std::string kubeconfig;          // --kubeconfig (else KUBECONFIG, else ~/.kube/config)
  bool allow_mutating_commands = false;  // `plan` never runs a command marked mutates = true
  bool verbose = false;            // stream commands' output
  std::function<void(const std::string&)> warn;  // e.g. insecure-skip-tls-verify is set
  std::function<void(const std::string&)> output_line;  // a command's output line, when verbose
};

// Throws SetupError-worthy std::runtime_error (unknown context, unreadable kubeconfig, a server
// that does not answer /version) before anything is changed.
class RealWorld {
 public:
  explicit RealWorld(RealWorldOptions options);
  ~RealWorld();

  // The targets in inventory order, by the playbook's names.
  const std::vector<std::pair<std::string, cluster::Cluster*>>& clusters() const;
  const std::string& default_name() const;
  // "name: context (server)" per target, for run_started and the confirmation prompt.
  std::vector<std::string> describe() const;

  Timeline& timeline();
  exec::Executor& executor();

  // ctx:connect: the cluster a kubeconfig's text reaches; the same handle for the same server.
  cluster::Cluster* connect(const std::string& kubeconfig_text, const std::string& name);

  // A fixture document of the targets as they are now (read-only; docs/fixtures.md): every kind the
  // servers list, minus history and derived objects (cluster/snapshot.hpp). `keep_secret_values`
  // only for a snapshot that stays in memory.
  nlohmann::json snapshot(bool keep_secret_values, const std::function<void(const std::string&)>& progress = {});
  // The fixture entry ({version, objects}) of one cluster of this world: a target, or one connect()
  // reached (a plan snapshots the clusters a playbook connects to, as it reaches them).
  nlohmann::json snapshot_cluster(cluster::Cluster& cluster, bool keep_secret_values,
                                  const std::function<void(const std::string&)>& progress = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace refit::run
