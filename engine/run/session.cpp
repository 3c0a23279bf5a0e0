#include "run/session.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>

#include "cluster/sim/sim_runtime.hpp"
#include "data/sha256.hpp"
#include "exec/executor.hpp"
#include "lua/lib_codecs.hpp"
#include "lua/lib_resource.hpp"
#include "lua/json_bridge.hpp"
#include "playbook/playbook.hpp"
#include "run/interrupt.hpp"
#include "run/lease_keeper.hpp"
#include "run/lease_renewal.hpp"
#include "run/lease_timeline.hpp"
#include "run/local_file.hpp"
#include "run/real_world.hpp"
#include "run/run_context.hpp"
#include "run/snapshot_hooks.hpp"
#include "run/run_host.hpp"
#include "run/sim_state/kept_world.hpp"
#include "run/sim_state/state_error.hpp"
#include "run/snapshot_connect.hpp"
#include "run/unlock.hpp"
#include "run/utc_time.hpp"

namespace refit::run {

void prepare_vm(lua::Vm& vm) {
  lua::preload_codecs(vm);
  lua::preload_resource(vm);
}

namespace {

// The playbook, its parameters, and what reports may show of them.
struct LoadedRun {
  playbook::Loaded playbook;
  int params_ref = LUA_NOREF;
  nlohmann::json params, params_text, secrets;
  // For the journal: the playbook's hash and how to find it again, and the parameters as given,
  // secret ones left out (a resume asks for them again, by these names).
  std::string sha256;
  std::string playbook_arg;
  nlohmann::json raw_values = nlohmann::json::object();
  std::vector<std::string> secret_names;
  nlohmann::json resume;   // the journal's run_started.resume
  std::map<std::string, std::string> named_secrets;  // name -> value, for a kept world's file (never written)
};

std::string absolute(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

LoadedRun load_run(lua::Vm& vm, const SessionOptions& options) {
  LoadedRun run;
  lua_State* L = vm.state();
  try {
    playbook::Source source = playbook::find(options.playbook);
    run.sha256 = data::sha256_hex(source.content);
    run.playbook_arg = source.dir.embedded ? options.playbook : absolute(source.display);
    run.playbook = playbook::load(vm, source);
    playbook::RawParams raw;
    if (options.values.is_object())
      for (const auto& [k, v] : options.values.items()) raw.values[k] = v;
    for (auto& [k, v] : playbook::read_raw_params(options.values_file, options.sets).values) raw.values[k] = v;
    playbook::push_resolved_params(vm, run.playbook, raw);
    run.params_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    std::vector<std::string> secret = playbook::secret_params(vm, run.playbook);
    for (const auto& [k, v] : raw.values) {
      if (std::find(secret.begin(), secret.end(), k) != secret.end()) run.secret_names.push_back(k);
      else run.raw_values[k] = v;
    }
    // What reports may show of the parameters: secrets never.
    run.params = playbook::param_view(vm, run.playbook, run.params_ref, "redacted");
    run.params_text = playbook::param_view(vm, run.playbook, run.params_ref, "display");
    run.secrets = playbook::param_view(vm, run.playbook, run.params_ref, "secrets");
    nlohmann::json named = playbook::param_view(vm, run.playbook, run.params_ref, "named_secrets");
    if (named.is_object())
      for (auto& [name, value] : named.items()) run.named_secrets[name] = value.get<std::string>();
  } catch (const playbook::LoadError& e) {
    throw SetupError(e.what());
  }
  if (!run.params.is_object()) run.params = nlohmann::json::object();
  if (!run.params_text.is_object()) run.params_text = nlohmann::json::object();
  return run;
}

// What the run stands on, whichever world it is.
struct WorldParts {
  NamedClusters clusters;
  std::string default_name;
  Timeline* timeline = nullptr;
  exec::Executor* executor = nullptr;
  RunHost::Connector connector;   // real worlds only
  EventFields started;            // the world's fields of run_started
  LeaseClock lease_clock;         // the time leases are written in
  RenewalStarter lease_renewal;   // a thread that renews them; none: renewed on the run's time (simulation)
  std::vector<std::string> unlock_world;  // the world's arguments of `refit unlock`
  bool clock_stands_still = false;        // a kept simulated world: its clock moves only while a run runs
};

// The journal of this session: a new run's, or the continued run's, to which it appends.
std::unique_ptr<journal::JournalSink> open_journal(const LoadedRun& loaded, const SessionOptions& options,
                                                   const std::string& path) {
  EventFields session = {{"host", journal::this_host()},
                         {"pid", static_cast<std::int64_t>(::getpid())},
                         {"playbook_sha256", loaded.sha256},
                         {"resume", loaded.resume}};
  try {
    return std::make_unique<journal::JournalSink>(path, std::move(session), options.journal_hooks);
  } catch (const journal::JournalError& e) {
    throw SetupError(e.what());
  }
}

// Holds the run's leases from run_started to run_finished (docs/leases.md), as run `run_id` (the
// journal's). Returns the reason the run may not start (another live run holds a target), else
// none; `lease` then owns the leases, which `runner` releases before run_finished (and the keeper's
// destructor on any other way out). A lease lost meanwhile stops the run as an interrupt does.
std::optional<std::string> hold_leases(const SessionOptions& options, const LoadedRun& loaded, WorldParts& world,
                                       const std::string& run_id, EventBus& bus, RunHost& host, Runner& runner,
                                       std::unique_ptr<LeaseKeeper>& lease) {
  LeaseOptions lease_options{run_id, journal::this_host(), loaded.playbook.name, options.lease_duration_s,
                             world.clock_stands_still};
  lease = std::make_unique<LeaseKeeper>(bus, std::move(lease_options), world.clusters, world.lease_clock,
                                        force_unlock_command(loaded.playbook.name, world.unlock_world));
  if (auto refusal = lease->acquire()) return refusal;
  lease->start_renewal(world.lease_renewal);
  LeaseKeeper* keeper = lease.get();
  host.set_stop_check([keeper] { return keeper->lost_reason(); });
  runner.set_before_finish([keeper] { keeper->release(); });
  return std::nullopt;
}

RunOutcome run_in(lua::Vm& vm, LoadedRun& loaded, const SessionOptions& options, WorldParts& world,
                  const std::vector<EventSink*>& sinks, SessionResult& result,
                  std::function<void(EventBus&)> before_run = {}) {
  LeaseTimeline timeline(*world.timeline);
  const std::int64_t origin = timeline.now();
  EventBus bus([&timeline, origin] { return timeline.now() - origin; });
  for (EventSink* sink : sinks) bus.add_sink(sink);
  if (loaded.secrets.is_array())
    for (const auto& secret : loaded.secrets) bus.add_secret(secret.get<std::string>());
  RunHost host(vm, bus, timeline, *world.executor);
  host.set_writes_files(options.mode != "plan");
  if (world.connector) host.set_connector(world.connector);
  const nlohmann::json& state = options.history ? options.history->state : nlohmann::json();
  int ctx_ref = LUA_NOREF;
  try {
    ctx_ref = make_context(vm, host, loaded.params_ref, world.clusters, world.default_name, state);
  } catch (const std::runtime_error& e) {
    throw SetupError(e.what());
  }

  // The run's id: the journal's name, and the holder of its leases (an unjournaled apply, in
  // refit test, has one for its leases alone).
  const bool journaled = options.state_dir && options.mode != "plan";
  const std::string run_id = options.mode == "plan" ? std::string()
                             : options.run_id.empty() ? journal::new_run_id() : options.run_id;
  if (journaled) {
    try {
      result.run_id = run_id;
      result.journal = journal::journal_path(journal::state_dir(options.state_dir), result.run_id);
    } catch (const journal::JournalError& e) {
      throw SetupError(e.what());
    }
  }
  RunnerOptions runner_options;
  runner_options.mode = options.mode;
  runner_options.history = options.history;
  runner_options.rerun_interrupted = options.rerun_interrupted;
  runner_options.run_id = result.run_id;
  Runner runner(vm, host, loaded.playbook.ref, ctx_ref, loaded.playbook.file, runner_options);
  // Before the session's first record: a run that cannot be continued is refused unjournaled.
  try {
    runner.prepare();
  } catch (const RunRefused& e) {
    throw SetupError(bus.redacted(e.what()));
  }
  // The journal is the last sink: it records what every report was told, the warnings of setting up
  // the world too (a kept world's, a cluster's), which it writes right after run_started.
  std::unique_ptr<journal::JournalSink> journal;
  if (journaled) {
    journal = open_journal(loaded, options, result.journal);
    bus.add_sink(journal.get());
  }
  if (before_run) before_run(bus);

  interrupt::reset();
  if (options.handle_signals) interrupt::install();
  EventFields started = {{"playbook", loaded.playbook.name}, {"file", loaded.playbook.file}, {"mode", options.mode}};
  for (auto& [key, value] : world.started.items()) started[key] = value;
  started["seed"] = options.seed;
  started["params"] = loaded.params;
  started["params_text"] = loaded.params_text;
  if (journal) started["run_id"] = result.run_id;
  bus.emit("run_started", std::move(started));

  std::unique_ptr<LeaseKeeper> lease;
  if (options.mode != "plan") {
    std::optional<std::string> refusal = hold_leases(options, loaded, world, run_id, bus, host, runner, lease);
    timeline.attach(lease.get(), !world.lease_renewal);
    if (refusal) {
      // Another run holds a target: nothing ran. `locked` tells the journal's reader that this
      // session took no part in the run (a resume refused so leaves the run as it was).
      std::string message = bus.redacted(*refusal);
      bus.emit("run_finished", {{"status", status_name(RunStatus::PreconditionFailed)},
                                {"exit_code", exit_code(RunStatus::PreconditionFailed)}, {"duration", 0},
                                {"message", message}, {"changed", false}, {"locked", true}});
      if (options.handle_signals) interrupt::uninstall();
      if (journal && journal->failure()) message += "; " + *journal->failure();
      return {RunStatus::PreconditionFailed, message};
    }
  }
  RunOutcome outcome = runner.run();
  if (options.handle_signals) interrupt::uninstall();
  outcome.message = bus.redacted(outcome.message);
  if (journal && journal->failure()) outcome.message += "; " + *journal->failure();
  return outcome;
}

void seed_randomness(lua::Vm& vm, std::uint64_t seed) {
  // Playbooks that use math.random get the same sequence for the same --seed.
  lua_State* L = vm.state();
  lua_getglobal(L, "math");
  lua_getfield(L, -1, "randomseed");
  lua_pushinteger(L, static_cast<lua_Integer>(seed));
  lua_call(L, 1, 0);
  lua_pop(L, 1);
}

// REFIT_TEST_STOP_AT_SIM_STATE_LINE=N (tests, docs/testing.md): the process stops itself (SIGSTOP)
// right after line N of the --sim-state file is written, so that a test can kill -9 it at a point it
// knows.
std::optional<std::size_t> stop_at_sim_state_line() {
  const char* text = std::getenv("REFIT_TEST_STOP_AT_SIM_STATE_LINE");
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  unsigned long long line = std::strtoull(text, &end, 10);
  if (*end != '\0' || line == 0) {
    throw SetupError(fmt::format("REFIT_TEST_STOP_AT_SIM_STATE_LINE={}: a line number (1 or more) is expected", text));
  }
  return static_cast<std::size_t>(line);
}

// How the simulated world is kept: in --sim-state FILE (path empty: not kept).
simstate::KeptWorldOptions kept_world_options(const SessionOptions& options, const LoadedRun& loaded) {
  simstate::KeptWorldOptions kept;
  kept.path = options.sim_state;
  kept.record = options.mode != "plan";  // apply, and whatever else changes the world (resume, rollback)
  kept.fixture = options.fixture;
  kept.scenario = options.scenario;
  kept.seed = options.seed;
  kept.secrets = loaded.named_secrets;
  return kept;
}

// The world kept in --sim-state FILE: restored now (the world was just built from the fixture), and,
// for apply, recording from here on.
std::unique_ptr<simstate::KeptWorld> keep_world(const SessionOptions& options, const LoadedRun& loaded,
                                                sim::SimRuntime& runtime) {
  std::unique_ptr<simstate::KeptWorld> world;
  try {
    world = std::make_unique<simstate::KeptWorld>(kept_world_options(options, loaded), runtime);
  } catch (const simstate::StateError& e) {
    throw SetupError(e.what());
  }
  auto stop_at = stop_at_sim_state_line();
  if (options.sim_state_observer || stop_at) {
    world->set_observer([&options, &runtime, stop_at](std::size_t line, const std::string& text) {
      if (options.sim_state_observer) options.sim_state_observer(line, text, runtime);
      if (stop_at && line == *stop_at) std::raise(SIGSTOP);
    });
  }
  return world;
}

// `load` fills the world: from the fixture file, or from a snapshot of live clusters.
// `before_run` sees the run's event bus before run_started (warnings found while connecting).
// `connector_for`, when given, makes ctx:connect's connector for the loaded world (snapshot plans).
using ConnectorFor = std::function<RunHost::Connector(sim::SimRuntime&)>;
SessionResult run_sim(lua::Vm& vm, LoadedRun& loaded, const SessionOptions& options,
                      const std::vector<EventSink*>& sinks, const std::function<void(sim::SimRuntime&)>& load,
                      EventFields started, const std::function<void(EventBus&)>& before_run = {},
                      const ConnectorFor& connector_for = {}) {
  sim::World world(options.seed);
  sim::SimRuntime runtime(vm, world);
  try {
    load(runtime);
  } catch (const sim::FixtureError& e) {
    throw SetupError(e.what());
  }
  std::unique_ptr<simstate::KeptWorld> kept;
  if (!options.sim_state.empty()) kept = keep_world(options, loaded, runtime);
  SessionResult result;
  if (options.capture_world) result.world_before = runtime.dump();

  WorldParts parts;
  for (const auto& c : world.clusters()) {
    parts.clusters.emplace_back(c->name(), kept ? kept->cluster(c.get()) : c.get());
  }
  parts.default_name = world.default_cluster()->name();
  parts.timeline = kept ? &kept->timeline() : &runtime;
  parts.executor = kept ? &kept->executor() : &runtime;
  if (connector_for) parts.connector = connector_for(runtime);
  parts.started = std::move(started);
  if (options.scenario) parts.started["scenario"] = *options.scenario;
  if (kept) {
    parts.started["sim_state"] = options.sim_state;
    parts.started["sim_state_inputs"] = kept->replayed();
    parts.started["sim_state_clock"] = runtime.now();
  }
  parts.lease_clock = [&runtime] { return sim::virtual_epoch_unix_ms() + runtime.now(); };
  // A kept world is where the lease stays: refit unlock rebuilds it as the run did.
  parts.unlock_world = simstate::world_arguments(kept_world_options(options, loaded));
  parts.clock_stands_still = kept != nullptr;
  result.outcome = run_in(vm, loaded, options, parts, sinks, result, [&runtime, &before_run, &kept](EventBus& bus) {
    runtime.set_log([&bus](const std::string& msg) { bus.emit("world_log", {{"message", msg}}); });
    if (kept)
      for (const auto& warning : kept->warnings()) bus.emit("log", {{"level", "warn"}, {"message", warning}});
    if (before_run) before_run(bus);
  });
  runtime.set_log(nullptr);
  if (options.capture_world) result.world_after = runtime.dump();
  if (!options.save_world.empty()) {
    try {
      local_file::write_private(options.save_world, runtime.dump().dump(1) + "\n");
    } catch (const std::exception& e) {
      throw SetupError(fmt::format("--save-world: {}", e.what()));
    }
  }
  return result;
}

SessionResult run_real(lua::Vm& vm, LoadedRun& loaded, const SessionOptions& options,
                       const std::vector<EventSink*>& sinks) {
  const bool plan = options.mode == "plan";
  if (options.scenario && !plan) throw SetupError("--scenario injects faults into a simulated world: rehearse with refit plan");
  // Before connecting: a flag mistake is not worth a kubeconfig read, a plugin run and a request per cluster.
  if (!options.save_world.empty()) {
    throw SetupError(plan ? "--save-world saves a world made from a fixture (--sim); a snapshot's world holds the live "
                            "clusters' Secret values, which refit never writes to a file"
                          : "--save-world saves a simulated world (--sim); against real clusters, refit snapshot reads them");
  }
  RealWorldOptions real;
  try {
    real.targets = options.inventory ? read_inventory(*options.inventory) : single_target(options.context);
  } catch (const InventoryError& e) {
    throw SetupError(e.what());
  }
  real.kubeconfig = options.kubeconfig;
  // A plan only reads the live clusters (to snapshot them); it never runs a real command at all.
  real.allow_mutating_commands = !plan;
  real.verbose = options.verbose;
  // Warnings found while connecting are kept until the run's events begin.
  std::vector<std::string> early_warnings;
  auto emit_early_warnings = [&early_warnings](EventBus& bus) {
    for (const auto& w : early_warnings) bus.emit("log", {{"level", "warn"}, {"message", w}});
  };
  EventBus* bus_ptr = nullptr;
  real.warn = [&](const std::string& message) {
    if (bus_ptr != nullptr) bus_ptr->emit_here("log", {{"level", "warn"}, {"message", message}});
    else early_warnings.push_back(message);
  };
  real.output_line = [&](const std::string& line) {
    if (bus_ptr != nullptr) bus_ptr->emit_here("log", {{"level", "debug"}, {"message", line}});
  };
  // A plan also reads the cloud side the playbook names (snapshot_hooks.hpp); its warnings, like
  // those of connecting, wait for the run's events.
  std::unique_ptr<SnapshotHooks> hooks;
  if (plan) {
    SnapshotHookOptions hook_options;
    hook_options.playbook = options.playbook;
    hook_options.sets = options.sets;
    hook_options.values_file = options.values_file;
    hook_options.vm = options.vm;
    hook_options.warn = [&early_warnings](const std::string& message) { early_warnings.push_back(message); };
    try {
      hooks = std::make_unique<SnapshotHooks>(std::move(hook_options));
    } catch (const playbook::LoadError& e) {
      throw SetupError(e.what());
    }
  }
  std::unique_ptr<RealWorld> world;
  try {
    world = std::make_unique<RealWorld>(std::move(real));
  } catch (const std::exception& e) {
    throw SetupError(e.what());
  }
  if (plan) {
    // Plan in a simulated world that starts as the live clusters are. The snapshot stays in memory:
    // it may hold Secret values (kubeconfigs that ctx:connect reads), which no file may.
    nlohmann::json fixture;
    try {
      fixture = world->snapshot(true);
    } catch (const std::exception& e) {
      throw SetupError(fmt::format("cannot snapshot the live clusters: {}", e.what()));
    }
    try {
      hooks->read(*world, fixture);
    } catch (const SnapshotHookError& e) {
      throw SetupError(e.what());
    }
    hooks.reset();
    std::string display = options.inventory ? "snapshot of the clusters of " + *options.inventory
                                            : "snapshot of context " + options.context;
    EventFields started = {{"world", "snapshot"}, {"targets", world->describe()}};
    // The live world stays: a cluster the playbook reaches through ctx:connect is snapshotted then.
    SessionResult result = run_sim(vm, loaded, options, sinks, [&](sim::SimRuntime& runtime) {
      runtime.load_document(fixture, display, ".", options.scenario);
    }, std::move(started), [&](EventBus& bus) {
      bus_ptr = &bus;
      emit_early_warnings(bus);
    }, [&world](sim::SimRuntime& runtime) { return snapshot_connector(*world, runtime); });
    bus_ptr = nullptr;
    return result;
  }
  if (options.confirm && !options.confirm(world->describe())) {
    throw SetupError("not applied: nothing was changed");
  }

  WorldParts parts;
  parts.clusters = world->clusters();
  parts.default_name = world->default_name();
  parts.timeline = &world->timeline();
  parts.executor = &world->executor();
  parts.connector = [&world](const std::string& text, const std::string& name) { return world->connect(text, name); };
  parts.started = {{"world", "real"}, {"targets", world->describe()}};
  parts.lease_clock = wall_clock_ms;
  // Each request of the renewal thread is bounded by the renewal interval (2 to 15 s), so that the
  // thread stops soon after the run ends, even when a server no longer answers.
  const std::int64_t renewal_timeout =
      std::clamp<std::int64_t>(renew_interval_ms(options.lease_duration_s), 2'000, 15'000);
  parts.lease_renewal = renew_from_thread([&world, renewal_timeout](const std::string& name, auto pause) {
    return world->separate_connection(name, std::move(pause), renewal_timeout);
  });
  parts.unlock_world = real_unlock_arguments(options.inventory, options.context, options.kubeconfig);
  SessionResult result;
  result.outcome = run_in(vm, loaded, options, parts, sinks, result, [&](EventBus& bus) {
    bus_ptr = &bus;
    emit_early_warnings(bus);
  });
  bus_ptr = nullptr;
  return result;
}

// What a resume needs to stand on the same world again; paths absolute, as it may run elsewhere.
nlohmann::json journaled_world(const SessionOptions& options) {
  auto path_or_null = [](const std::optional<std::string>& p) { return p ? nlohmann::json(absolute(*p)) : nlohmann::json(); };
  if (!options.fixture.empty()) {
    return {{"sim", absolute(options.fixture)}, {"scenario", path_or_null(options.scenario)}, {"seed", options.seed},
            {"sim_state", options.sim_state.empty() ? nlohmann::json() : nlohmann::json(absolute(options.sim_state))}};
  }
  nlohmann::json world = {{"kubeconfig", absolute(options.kubeconfig)}};
  if (options.inventory) world["inventory"] = absolute(*options.inventory);
  else world["context"] = options.context;
  return world;
}

}  // namespace

SessionResult run_session(const SessionOptions& options, const std::vector<EventSink*>& sinks) {
  lua::Vm vm(options.vm);
  prepare_vm(vm);
  seed_randomness(vm, options.seed);
  // 1. The playbook and its parameters, before any world exists.
  LoadedRun loaded = load_run(vm, options);
  if (!options.sim_state.empty() && options.fixture.empty()) {
    throw SetupError("--sim-state keeps a simulated world built from a fixture: give --sim FIXTURE too (a world made "
                     "from live clusters is never kept in a file)");
  }
  loaded.resume = {{"playbook", loaded.playbook_arg}, {"values", loaded.raw_values},
                   {"secret_params", loaded.secret_names}, {"world", journaled_world(options)}};
  // 2. The world, and 3. the run.
  if (!options.fixture.empty()) {
    if (!options.context.empty() || options.inventory) {
      throw SetupError("--sim runs in a simulated world; --context and --inventory name real clusters: give one or the other");
    }
    EventFields started = {{"world", "sim"}, {"fixture", options.fixture}};
    return run_sim(vm, loaded, options, sinks, [&](sim::SimRuntime& runtime) {
      runtime.load(options.fixture, options.scenario);
    }, std::move(started));
  }
  if (options.context.empty() && !options.inventory) {
    throw SetupError("which world? --sim FIXTURE rehearses in a simulated one (examples/clusters/ has some); "
                     "--context CTX (or --inventory FILE) applies to real clusters");
  }
  if (!options.context.empty() && options.inventory) {
    throw SetupError("--context names one cluster and --inventory several: give one or the other");
  }
  return run_real(vm, loaded, options, sinks);
}

}  // namespace refit::run
