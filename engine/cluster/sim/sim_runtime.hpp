// The simulated world as the engine drives it: the Lua models (stdlib/refit/sim) get the `W`
// primitives (docs/sim-models.md); the runner gets a Timeline (the virtual clock) and an Executor
// (the tool models).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "cluster/sim/world.hpp"
#include "exec/executor.hpp"
#include "lua/vm.hpp"
#include "run/timeline.hpp"

namespace refit::sim {

// A fixture or scenario that cannot be loaded; the message names the file and the field.
struct FixtureError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class SimRuntime final : public run::Timeline, public exec::Executor {
 public:
  SimRuntime(lua::Vm& vm, World& world);
  ~SimRuntime() override;

  // Builds the world from a fixture file (and a scenario file) through stdlib/refit/sim/init.lua.
  void load(const std::string& fixture_path, const std::optional<std::string>& scenario_path);
  // The same from a fixture document already in memory (a snapshot of live clusters, which may hold
  // Secret values that must not be written to a file): `display` names it in errors, `dir` is where
  // its `files` are read from.
  void load_document(const nlohmann::json& fixture, const std::string& display, const std::string& dir,
                     const std::optional<std::string>& scenario_path);

  // Adds cluster `name` to the loaded world while a run goes on (a plan from live clusters snapshots
  // a cluster that ctx:connect reaches): `entry` is a fixture cluster entry of objects ({version,
  // objects}, as a snapshot makes it); `display` names it in errors. Its objects are created and the
  // Kubernetes controllers started on it, at the current time. Throws FixtureError.
  void add_cluster(const std::string& name, const nlohmann::json& entry, const std::string& display);

  std::int64_t now() const override { return world_.clock().now_ms(); }
  void advance_to(std::int64_t t) override;

  exec::Result run(const exec::Request& request) override;
  // The programs the world models (aws, eksctl, dkp, ...), sorted.
  std::vector<std::string> tool_names();

  // {"clusters": {...}, "cloud": {...}}: the whole world, deterministic, for comparisons.
  nlohmann::json dump();

  World& world() { return world_; }

  // Every change of every cluster, after the store is consistent again and before the models'
  // watchers run: what `refit sim serve` streams to watches. One tap; setting another replaces it.
  using ChangeTap = std::function<void(const std::string& cluster, const Change& change)>;
  void set_change_tap(ChangeTap tap) { tap_ = std::move(tap); }
  // The same, with Change::old set for every modification (a watch with a selector must know whether
  // the object matched before the change, to send ADDED or DELETED when it starts or stops matching).
  void set_change_tap_with_old(ChangeTap tap);

  // The eviction subresource: the kube model's budget rules (W.evictor). Throws cluster::ApiError
  // (404 gone, 429 a budget forbids it).
  void evict(SimCluster& cluster, const ObjectRef& pod);
  void set_log(std::function<void(const std::string&)> log) { log_ = std::move(log); }

 private:
  friend struct SimPrimitives;
  void watch_cluster(SimCluster& cluster);
  void record_model_error(const std::string& what, const lua::CallError& error);

  lua::Vm& vm_;
  World& world_;
  int w_ref_ = LUA_NOREF;        // the W table
  int tools_ref_ = LUA_NOREF;    // name -> model function
  int subs_ref_ = LUA_NOREF;     // cluster -> kind -> { fn or { fn } (skips status-only changes), ... }
  int evictor_ref_ = LUA_NOREF;  // W.evictor's function
  int add_cluster_ref_ = LUA_NOREF;  // what the world's loader returned: adds a cluster later
  ChangeTap tap_;
  bool tap_wants_old_ = false;
  // What the watchers of (cluster, kind) need: the object as it was before the change (some
  // watcher asked for `old`), and status-only changes (some watcher did not say `status = false`).
  struct Subscription {
    bool old = false;
    bool status = false;
  };
  std::map<std::pair<std::string, std::string>, Subscription> subscribed_;
  std::uint64_t last_timer_ = 0;
  std::map<std::uint64_t, std::pair<int, VirtualClock::EventId>> timers_;  // W.after id -> (fn ref, clock event)
  std::optional<std::string> model_error_;
  std::string fixture_display_;
  std::string scenario_display_;
  std::string fixture_dir_;
  std::function<void(const std::string&)> log_;
};

}  // namespace refit::sim
