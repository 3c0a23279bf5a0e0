// refit sim dump FIXTURE --sim-state FILE: the simulated world kept in FILE (docs/sim-state.md), as the
// next run would stand on it, printed as JSON (as refit sim serve's /refit/v1/dump and --save-world
// write a world). It only reads FILE: what a world kept by an apply that was killed holds, without
// resuming anything (the crash matrix's kept worlds compare it with an uninterrupted run's).
#include <filesystem>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "cli/cmd_sim.hpp"
#include "cli/fixture_world.hpp"
#include "cluster/sim/sim_runtime.hpp"
#include "run/session.hpp"
#include "run/sim_state/kept_world.hpp"
#include "run/sim_state/state_error.hpp"

namespace refit::cli {

namespace {

struct SimDumpOptions {
  std::string fixture;
  std::string sim_state;
  std::optional<std::string> scenario;
  std::uint64_t seed = 1;
};

int sim_dump(const GlobalOptions& global, const SimDumpOptions& o) {
  // A dump never starts a kept world: without FILE there is nothing kept to show.
  std::error_code ec;
  if (!std::filesystem::exists(o.sim_state, ec)) {
    throw run::SetupError(fmt::format("--sim-state {}: no such file: no world is kept there (give the file refit "
                                      "apply --sim-state kept the world in)", o.sim_state));
  }
  FixtureWorld built(global, o.seed);
  built.load(o.fixture, o.scenario);
  sim::SimRuntime& runtime = built.runtime();
  run::simstate::KeptWorldOptions kept;
  kept.path = o.sim_state;
  kept.fixture = o.fixture;
  kept.scenario = o.scenario;
  kept.seed = o.seed;
  kept.takes_secrets = false;
  try {
    run::simstate::KeptWorld restored(kept, runtime);
    for (const auto& warning : restored.warnings()) print_error("warning: " + warning);
  } catch (const run::simstate::StateError& e) {
    throw run::SetupError(e.what());
  }
  std::cout << runtime.dump().dump(1) << std::endl;
  return 0;
}

}  // namespace

void add_sim_dump(CLI::App& sim, GlobalOptions& global, Command& command) {
  auto opts = std::make_shared<SimDumpOptions>();
  auto* sub = sim.add_subcommand("dump", "print the simulated world kept in --sim-state FILE (JSON), as the next run "
                                         "would restore it; FILE is only read");
  sub->add_option("FIXTURE", opts->fixture, "world fixture (YAML) the world was built from")->required();
  sub->add_option("--sim-state", opts->sim_state, "the file the world is kept in (refit apply --sim-state)")
      ->required();
  sub->add_option("--scenario", opts->scenario, "the fault scenario the kept world was built with");
  sub->add_option("--seed", opts->seed, "the seed the kept world was built with")->default_val(1);
  sub->callback([&global, &command, opts] {
    command.run = [&global, opts] { return sim_dump(global, *opts); };
  });
}

}  // namespace refit::cli
