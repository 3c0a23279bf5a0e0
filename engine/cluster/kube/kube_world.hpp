// The real world a run acts on: the clusters of a run reached through the Kubernetes API, by the
// names the playbook uses, and the run's time, which is the wall clock. Waits read from watches
// (wait_cache.hpp) and advance_to returns early when a watched object changes, so a predicate is
// evaluated again as soon as what it reads may have changed. Against `refit sim serve` worlds (every
// endpoint says refit.dev/sim speed N), time counts in the served world's milliseconds, N per real one.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/kube/kube_cluster.hpp"
#include "cluster/kube/watch.hpp"
#include "run/timeline.hpp"

namespace refit::kube {

class KubeWorld final : public run::Timeline {
 public:
  // Receives the warnings of every cluster (with its name), to be turned into events.
  using Warn = std::function<void(const std::string& cluster, const std::string& message)>;
  explicit KubeWorld(Warn warn = {});
  ~KubeWorld() override;

  // Adds a cluster under the name the playbook uses. Throws std::invalid_argument when it is taken.
  // options.warn, when empty, goes to the world's.
  KubeCluster& add_cluster(const std::string& name, Endpoint endpoint, KubeClusterOptions options = {});
  KubeCluster* find(const std::string& name);
  const std::vector<std::unique_ptr<KubeCluster>>& clusters() const { return clusters_; }

  // Milliseconds since the world was made, times speed().
  std::int64_t now() const override;
  // Sleeps until `t`; inside a wait, drives the wait's watches meanwhile and returns as soon as one
  // of them changes something (or a watch is re-listed). Throws cluster::ApiError when a watch cannot
  // be kept open or a re-list fails.
  void advance_to(std::int64_t t) override;
  void wait_began() override;
  void wait_ended() override;

  // A command changed the world: it may have installed CustomResourceDefinitions on any cluster.
  void forget_discovery_misses() {
    for (auto& c : clusters_) c->forget_discovery_misses();
  }

  // N when every cluster is a `refit sim serve` world running N times faster than the wall clock, else 1.
  double speed() const { return speed_; }

 private:
  std::int64_t steady_ms() const;

  Warn warn_;
  WatchHub hub_;
  std::vector<std::unique_ptr<KubeCluster>> clusters_;
  double speed_ = 1.0;
  std::int64_t origin_steady_ms_ = 0;  // now() = origin_world_ms_ + (steady - origin_steady_ms_) * speed_
  std::int64_t origin_world_ms_ = 0;
};

}  // namespace refit::kube
