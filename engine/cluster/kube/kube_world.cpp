#include "cluster/kube/kube_world.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "run/interrupt.hpp"

namespace refit::kube {

namespace {
// The longest a wait sleeps before it looks again whether the run was asked to stop.
constexpr std::int64_t kLongestPauseMs = 100;
}  // namespace

KubeWorld::KubeWorld(Warn warn) : warn_(std::move(warn)), origin_steady_ms_(steady_ms()) {}

KubeWorld::~KubeWorld() {
  // The clusters' watch streams live in the hub's multi handle: they go first.
  clusters_.clear();
}

std::int64_t KubeWorld::steady_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::int64_t KubeWorld::now() const {
  return origin_world_ms_ + static_cast<std::int64_t>(static_cast<double>(steady_ms() - origin_steady_ms_) * speed_);
}

KubeCluster& KubeWorld::add_cluster(const std::string& name, Endpoint endpoint, KubeClusterOptions options) {
  if (find(name) != nullptr) throw std::invalid_argument(fmt::format("cluster \"{}\" is already in the run", name));
  if (!options.warn && warn_) options.warn = [warn = warn_, name](const std::string& message) { warn(name, message); };
  std::optional<double> sim_speed = endpoint.sim_speed;
  clusters_.push_back(std::make_unique<KubeCluster>(name, std::move(endpoint), std::move(options), &hub_));

  // Time runs at the served worlds' speed only when all of them agree on it.
  double speed = 1.0;
  if (sim_speed && *sim_speed > 0) {
    speed = *sim_speed;
    for (const auto& cluster : clusters_) {
      if (cluster->endpoint().sim_speed != sim_speed) speed = 1.0;
    }
  }
  if (speed != speed_) {
    origin_world_ms_ = now();
    origin_steady_ms_ = steady_ms();
    speed_ = speed;
  }
  return *clusters_.back();
}

KubeCluster* KubeWorld::find(const std::string& name) {
  for (const auto& cluster : clusters_) {
    if (cluster->name() == name) return cluster.get();
  }
  return nullptr;
}

void KubeWorld::wait_began() {
  for (const auto& cluster : clusters_) cluster->wait_began();
}

void KubeWorld::wait_ended() {
  for (const auto& cluster : clusters_) cluster->wait_ended();
}

void KubeWorld::advance_to(std::int64_t t) {
  const std::uint64_t changes = hub_.changes();
  for (;;) {
    std::optional<std::int64_t> due;  // steady ms at which a watch is to be re-opened
    for (const auto& cluster : clusters_) {
      cluster->service_waits();
      if (auto next = cluster->next_wait_due_ms()) due = std::min(due.value_or(*next), *next);
    }
    if (hub_.changes() != changes) return;
    // A run asked to stop ends its wait at once (the wait's next poll sees the request).
    if (run::interrupt::requested()) return;
    const std::int64_t now_world = now();
    if (now_world >= t) return;
    auto pause = static_cast<std::int64_t>(std::ceil(static_cast<double>(t - now_world) / speed_));
    if (due) pause = std::min(pause, std::max<std::int64_t>(*due - steady_ms(), 0));
    pause = std::clamp<std::int64_t>(pause, 1, kLongestPauseMs);
    if (hub_.busy()) {
      hub_.poll(pause);
      if (hub_.changes() != changes) return;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(pause));
    }
  }
}

}  // namespace refit::kube
