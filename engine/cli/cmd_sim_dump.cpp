// refit sim dump FIXTURE --sim-state FILE: the simulated world kept in FILE (docs/sim-state.md), as the
// next run would stand on it, printed as JSON (as refit sim serve's /refit/v1/dump and --save-world
// write a world). It only reads FILE: what a world kept by an apply that was killed holds, without
// resuming anything (the crash matrix's kept worlds compare it with an uninterrupted run's).
#include <iostream>
#include <optional>

#include "cli/cmd_sim.hpp"
#include "cli/fixture_world.hpp"

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
  FixtureWorld::require_kept_file(o.sim_state, "no world is kept there (give the file refit apply --sim-state kept "
                                               "the world in)");
  FixtureWorld built(global, o.seed);
  built.load(o.fixture, o.scenario);
  run::simstate::KeptWorldOptions kept;
  kept.path = o.sim_state;
  kept.fixture = o.fixture;
  kept.scenario = o.scenario;
  kept.seed = o.seed;
  kept.takes_secrets = false;
  built.restore(kept);
  std::cout << built.runtime().dump().dump(1) << std::endl;
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
