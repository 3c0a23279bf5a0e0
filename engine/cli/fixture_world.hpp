// A simulated world made from its fixture, for the commands that stand one up outside a run: refit sim
// serve, refit sim dump and refit unlock --sim. Its Lua VM, world and runtime live and die together.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cli/common.hpp"
#include "cluster/sim/sim_runtime.hpp"
#include "lua/vm.hpp"
#include "run/sim_state/kept_world.hpp"

namespace refit::cli {

class FixtureWorld {
 public:
  FixtureWorld(const GlobalOptions& global, std::uint64_t seed);

  // Builds the world from FIXTURE and SCENARIO; a run::SetupError says why it cannot be.
  void load(const std::string& fixture, const std::optional<std::string>& scenario);

  // These commands never start a kept world: a run::SetupError unless FILE is there, with `missing`
  // saying what to give instead. Before load, so that a mistyped FILE is told at once.
  static void require_kept_file(const std::string& file, const std::string& missing);
  // The world kept in kept.path (docs/sim-state.md), restored onto this one, which `load` built from
  // kept.fixture; its warnings go to stderr. A run::SetupError says why it cannot be restored.
  std::unique_ptr<run::simstate::KeptWorld> restore(const run::simstate::KeptWorldOptions& kept);

  sim::World& world() { return world_; }
  sim::SimRuntime& runtime() { return *runtime_; }

 private:
  lua::Vm vm_;
  sim::World world_;
  std::unique_ptr<sim::SimRuntime> runtime_;
};

}  // namespace refit::cli
