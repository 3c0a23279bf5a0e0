// The simulated world: clusters, the virtual clock, and the seeded random generator the models use.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/sim/sim_cluster.hpp"
#include "cluster/sim/virtual_clock.hpp"

namespace refit::sim {

// splitmix64: tiny, fast, and the same sequence on every platform for a given seed
// (std::uniform_int_distribution is not portable across standard libraries).
class SeededRandom {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  double uniform();                                       // [0, 1)
  std::int64_t range(std::int64_t lo, std::int64_t hi);   // [lo, hi]
 private:
  std::uint64_t state_;
};

class World {
 public:
  explicit World(std::uint64_t seed) : random_(seed) {}

  VirtualClock& clock() { return clock_; }
  const VirtualClock& clock() const { return clock_; }
  SeededRandom& random() { return random_; }

  // Throws when the name is taken or the version is not a Kubernetes version.
  SimCluster& add_cluster(const std::string& name, const std::string& git_version, bool make_default);
  SimCluster* find(const std::string& name);
  const std::vector<std::unique_ptr<SimCluster>>& clusters() const { return clusters_; }
  SimCluster* default_cluster();

  // {"<cluster>": {"version": "...", "objects": {...}}}: deterministic, for comparing worlds.
  Json dump_clusters() const;

 private:
  VirtualClock clock_;
  SeededRandom random_;
  std::vector<std::unique_ptr<SimCluster>> clusters_;
  std::string default_;
};

}  // namespace refit::sim
