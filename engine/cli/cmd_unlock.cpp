// refit unlock RUN|PLAYBOOK: removes the Lease a run that died left in its clusters (docs/leases.md),
// so that the next run need not wait for it to expire. PLAYBOOK names the clusters itself (--context,
// --inventory or --sim); RUN finds them in the run's journal (unlock_run.hpp).
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "cli/fixture_world.hpp"
#include "cli/unlock_run.hpp"
#include "cluster/sim/sim_runtime.hpp"
#include "playbook/playbook.hpp"
#include "run/inventory.hpp"
#include "run/real_world.hpp"
#include "run/journal.hpp"
#include "run/session.hpp"
#include "run/sim_state/kept_world.hpp"
#include "run/unlock.hpp"
#include "run/utc_time.hpp"

namespace refit::cli {

namespace {

struct UnlockOptions {
  std::string what;  // RUN or PLAYBOOK
  std::string fixture, context, kubeconfig;
  std::optional<std::string> inventory, state_dir;
  // A simulated world kept in a file (--sim-state), built as the run built it (--scenario, --seed).
  std::string sim_state;
  std::optional<std::string> scenario;
  std::uint64_t seed = 1;
  bool seed_given = false;  // --seed on the command line (its default is 1)
  bool force = false;
};

// The playbook's name, which names its Lease: a bundled playbook or a file is read for it (the name a
// playbook gives itself need not be its path); anything else is taken as the name, as `refit apply`
// reported it (the holder's playbook file may be on another machine).
std::string playbook_name(const GlobalOptions& global, const std::string& arg) {
  playbook::Source source;
  try {
    source = playbook::find(arg);
  } catch (const playbook::LoadError&) {
    return arg;
  }
  lua::Vm vm(vm_options(global));
  run::prepare_vm(vm);
  try {
    return playbook::load(vm, source).name;
  } catch (const playbook::LoadError& e) {
    throw std::runtime_error(fmt::format("{}\nrefit unlock reads the playbook's name from {}: fix it, or give the "
                                         "playbook's name (as refit apply reported it) instead", e.what(), arg));
  }
}

// The simulated world kept in --sim-state FILE (when given), built as the run built it; unlock's removal
// of the lease is kept in FILE as the run's inputs are.
run::simstate::KeptWorldOptions kept_world_options(const UnlockOptions& o) {
  run::simstate::KeptWorldOptions kept;
  kept.path = o.sim_state;
  kept.record = true;
  kept.fixture = o.fixture;
  kept.scenario = o.scenario;
  kept.seed = o.seed;
  return kept;
}

// The arguments that name the world again, for the message that suggests --force.
std::vector<std::string> world_args(const UnlockOptions& o) {
  if (!o.fixture.empty()) return run::simstate::world_arguments(kept_world_options(o));
  return run::real_unlock_arguments(o.inventory, o.context, o.kubeconfig);
}

// In a simulated world: the fixture's, where nothing is kept (what unlock would do, for rehearsals),
// or the world kept in --sim-state FILE, restored as a run restores it, the lease's removal kept in
// FILE as the run's inputs are (docs/sim-state.md).
run::UnlockReport unlock_in_sim(const GlobalOptions& global, const UnlockOptions& o, const run::UnlockRequest& request) {
  if (!o.sim_state.empty()) {
    // Unlocking never starts a kept world: without FILE there is no world, and no lease in it.
    FixtureWorld::require_kept_file(o.sim_state, "no world is kept there, so it holds no lease (give the file the "
                                                 "run kept its world in, as refit apply --sim-state had it)");
  }
  FixtureWorld built(global, o.seed);
  built.load(o.fixture, o.scenario);
  sim::World& world = built.world();
  sim::SimRuntime& runtime = built.runtime();
  std::unique_ptr<run::simstate::KeptWorld> kept;
  if (!o.sim_state.empty()) {
    kept = built.restore(kept_world_options(o));
  }
  run::NamedClusters clusters;
  for (const auto& c : world.clusters()) clusters.emplace_back(c->name(), kept ? kept->cluster(c.get()) : c.get());
  run::UnlockReport report = run::unlock_leases(clusters, request, sim::virtual_epoch_unix_ms() + runtime.now());
  if (!kept) {
    report.lines.push_back(fmt::format("The simulated world of {} is not kept: this is what refit unlock would do in "
                                       "it.", o.fixture));
  }
  return report;
}

run::UnlockReport unlock_in_real(const UnlockOptions& o, const run::UnlockRequest& request) {
  run::RealWorldOptions real;
  real.targets = o.inventory ? run::read_inventory(*o.inventory) : run::single_target(o.context);
  real.kubeconfig = o.kubeconfig;
  real.warn = [](const std::string& message) { print_error("warning: " + message); };
  run::RealWorld world(std::move(real));
  return run::unlock_leases(world.clusters(), request, run::wall_clock_ms());
}

int unlock(const GlobalOptions& global, UnlockOptions o) {
  run::UnlockRequest request;
  request.force = o.force;
  if (run::journal::looks_like_run_id(o.what)) {
    if (!o.fixture.empty() || !o.context.empty() || o.inventory || !o.sim_state.empty() || o.scenario ||
        o.seed_given || !o.kubeconfig.empty()) {
      throw run::SetupError(fmt::format("refit unlock {} finds the run's clusters in its journal: drop --sim, "
                                        "--sim-state, --scenario, --seed, --context, --inventory and --kubeconfig "
                                        "(they go with refit unlock PLAYBOOK)",
                                        o.what));
    }
    UnlockTarget target = unlock_target_of_run(o.what, o.state_dir);
    request.run_id = target.run_id;
    request.playbook = target.playbook;
    if (!target.world.fixture.empty() && target.world.sim_state.empty()) {
      // Its lease was in a world that ended with the run: no other run can find it.
      std::cout << fmt::format("run {} ran in a simulated world that was not kept (--sim {} without --sim-state): "
                               "its lease went with that world, so there is nothing to unlock\n",
                               target.run_id, target.world.fixture);
      return 0;
    }
    o.fixture = target.world.fixture;
    o.sim_state = target.world.sim_state;
    o.scenario = target.world.scenario;
    o.seed = target.world.seed;
    o.context = target.world.context;
    o.inventory = target.world.inventory;
    o.kubeconfig = target.world.kubeconfig;
  } else {
    if (!o.sim_state.empty() && o.fixture.empty()) {
      throw run::SetupError(fmt::format("refit unlock {} --sim-state {}: give the fixture the world was built from "
                                        "too (--sim FIXTURE)", o.what, o.sim_state));
    }
    int worlds = (o.fixture.empty() ? 0 : 1) + (o.context.empty() ? 0 : 1) + (o.inventory ? 1 : 0);
    if (worlds == 0) {
      throw run::SetupError(fmt::format("refit unlock {} needs the clusters to unlock: one of --context CTX, "
                                        "--inventory FILE or --sim FIXTURE", o.what));
    }
    if (worlds > 1) {
      throw run::SetupError(fmt::format("refit unlock {}: give only one of --context CTX, --inventory FILE and --sim "
                                        "FIXTURE (they name different clusters)", o.what));
    }
    // Options of the other kind of world would be ignored: say so rather than unlock elsewhere.
    if (o.state_dir) {
      throw run::SetupError(fmt::format("refit unlock {}: --state-dir names where run journals are, for refit "
                                        "unlock RUN: drop it, or give the run's id instead of {}", o.what, o.what));
    }
    if (o.fixture.empty() && (o.scenario || o.seed_given)) {
      throw run::SetupError(fmt::format("refit unlock {}: --scenario and --seed describe a simulated world: give "
                                        "its fixture too (--sim FIXTURE), or drop them", o.what));
    }
    if (!o.fixture.empty() && !o.kubeconfig.empty()) {
      throw run::SetupError(fmt::format("refit unlock {}: --kubeconfig reaches real clusters, --sim {} is a "
                                        "simulated world: drop one", o.what, o.fixture));
    }
    request.playbook = playbook_name(global, o.what);
  }
  request.force_command = run::force_unlock_command(request.playbook, world_args(o));
  request.clock_stands_still = !o.fixture.empty() && !o.sim_state.empty();

  run::UnlockReport report = o.fixture.empty() ? unlock_in_real(o, request) : unlock_in_sim(global, o, request);
  for (const auto& line : report.lines) std::cout << line << '\n';
  return report.exit_code;
}

}  // namespace

void add_unlock(CLI::App& app, GlobalOptions& global, Command& command) {
  auto opts = std::make_shared<UnlockOptions>();
  auto* sub = app.add_subcommand("unlock", "remove the lease a run that died left on its clusters (only an expired "
                                           "one, unless --force)");
  sub->add_option("RUN|PLAYBOOK", opts->what, "the run's id (or a unique prefix), or the playbook's name or path")
      ->required();
  sub->add_option("--context", opts->context, "kubeconfig context of the cluster to unlock");
  sub->add_option("--inventory", opts->inventory, "YAML file of the clusters to unlock (as refit apply --inventory)");
  sub->add_option("--kubeconfig", opts->kubeconfig, "kubeconfig file (else KUBECONFIG, else ~/.kube/config)");
  sub->add_option("--sim", opts->fixture, "the simulated world (fixture) to unlock");
  sub->add_option("--sim-state", opts->sim_state, "the file the simulated world is kept in (refit apply --sim-state)");
  sub->add_option("--scenario", opts->scenario, "the fault scenario the kept world was built with");
  auto* seed = sub->add_option("--seed", opts->seed, "the seed the kept world was built with")->default_val(1);
  add_state_dir_option(sub, opts->state_dir);
  sub->add_flag("--force", opts->force, "remove the lease even when its holder still renews it");
  sub->callback([&global, &command, opts, seed] {
    opts->seed_given = seed->count() > 0;
    command.run = [&global, opts] {
      try {
        return unlock(global, *opts);
      } catch (const std::exception& e) {
        print_error(e.what());
        return 1;
      }
    };
  });
}

}  // namespace refit::cli
