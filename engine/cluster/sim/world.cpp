#include "cluster/sim/world.hpp"

#include <stdexcept>

namespace refit::sim {

std::uint64_t SeededRandom::next() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double SeededRandom::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

std::int64_t SeededRandom::range(std::int64_t lo, std::int64_t hi) {
  if (hi < lo) std::swap(lo, hi);
  auto span = static_cast<std::uint64_t>(hi - lo) + 1;
  if (span == 0) return static_cast<std::int64_t>(next());  // the full 64-bit range
  return lo + static_cast<std::int64_t>(next() % span);
}

SimCluster& World::add_cluster(const std::string& name, const std::string& git_version, bool make_default) {
  if (find(name) != nullptr) throw std::invalid_argument("cluster \"" + name + "\" is defined twice");
  clusters_.push_back(std::make_unique<SimCluster>(name, git_version, [this] { return clock_.now_ms(); }));
  if (make_default || default_.empty()) default_ = name;
  return *clusters_.back();
}

SimCluster* World::find(const std::string& name) {
  for (auto& c : clusters_)
    if (c->name() == name) return c.get();
  return nullptr;
}

SimCluster* World::default_cluster() { return default_.empty() ? nullptr : find(default_); }

Json World::dump_clusters() const {
  Json out = Json::object();
  for (const auto& c : clusters_) {
    out[c->name()] = {{"version", c->version().git_version}, {"objects", c->store().dump()}};
  }
  return out;
}

}  // namespace refit::sim
