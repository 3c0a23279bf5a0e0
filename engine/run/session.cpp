#include "run/session.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>

#include "cluster/sim/sim_runtime.hpp"
#include "lua/cluster_binding.hpp"
#include "lua/lib_codecs.hpp"
#include "lua/lib_resource.hpp"
#include "lua/json_bridge.hpp"
#include "playbook/playbook.hpp"
#include "run/local_file.hpp"
#include "run/real_world.hpp"
#include "run/run_host.hpp"
#include "run/sim_state/kept_world.hpp"
#include "run/sim_state/state_error.hpp"

namespace refit::run {

void prepare_vm(lua::Vm& vm) {
  lua::preload_codecs(vm);
  lua::preload_resource(vm);
}

namespace {

using NamedClusters = std::vector<std::pair<std::string, cluster::Cluster*>>;

// Pushes ctx = require("refit.context").new(host, params, clusters, default) and returns a ref.
int make_context(lua::Vm& vm, RunHost& host, int params_ref, const NamedClusters& clusters,
                 const std::string& default_name) {
  lua_State* L = vm.state();
  lua_getglobal(L, "require");
  lua_pushliteral(L, "refit.context");
  if (auto err = vm.pcall(1, 1)) throw SetupError(err->message);
  lua_getfield(L, -1, "new");
  lua_remove(L, -2);
  host.push_host_table(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, params_ref);
  lua_newtable(L);
  for (const auto& [name, c] : clusters) {
    lua::push_cluster_handle(L, c, &host);
    lua_setfield(L, -2, name.c_str());
  }
  lua_pushstring(L, default_name.c_str());
  if (auto err = vm.pcall(4, 1)) throw SetupError(err->message);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

// The playbook, its parameters, and what reports may show of them.
struct LoadedRun {
  playbook::Loaded playbook;
  int params_ref = LUA_NOREF;
  nlohmann::json params, params_text, secrets;
  std::map<std::string, std::string> named_secrets;  // name -> value, for a kept world's file (never written)
};

LoadedRun load_run(lua::Vm& vm, const SessionOptions& options) {
  LoadedRun run;
  lua_State* L = vm.state();
  try {
    run.playbook = playbook::load(vm, playbook::find(options.playbook));
    playbook::push_resolved_params(vm, run.playbook, playbook::read_raw_params(options.values_file, options.sets));
    run.params_ref = luaL_ref(L, LUA_REGISTRYINDEX);
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
};

RunOutcome run_in(lua::Vm& vm, LoadedRun& loaded, const SessionOptions& options, WorldParts& world,
                  const std::vector<EventSink*>& sinks, std::function<void(EventBus&)> before_run = {}) {
  Timeline& timeline = *world.timeline;
  const std::int64_t origin = timeline.now();
  EventBus bus([&timeline, origin] { return timeline.now() - origin; });
  for (EventSink* sink : sinks) bus.add_sink(sink);
  if (loaded.secrets.is_array())
    for (const auto& secret : loaded.secrets) bus.add_secret(secret.get<std::string>());
  if (before_run) before_run(bus);
  RunHost host(vm, bus, timeline, *world.executor);
  host.set_writes_files(options.mode == "apply");
  if (world.connector) host.set_connector(world.connector);
  int ctx_ref = make_context(vm, host, loaded.params_ref, world.clusters, world.default_name);

  EventFields started = {{"playbook", loaded.playbook.name}, {"file", loaded.playbook.file}, {"mode", options.mode}};
  for (auto& [key, value] : world.started.items()) started[key] = value;
  started["seed"] = options.seed;
  started["params"] = loaded.params;
  started["params_text"] = loaded.params_text;
  bus.emit("run_started", std::move(started));

  Runner runner(vm, host, loaded.playbook.ref, ctx_ref, loaded.playbook.file);
  RunOutcome outcome = runner.run();
  outcome.message = bus.redacted(outcome.message);
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

// The world kept in --sim-state FILE: restored now (the world was just built from the fixture), and,
// for apply, recording from here on.
std::unique_ptr<simstate::KeptWorld> keep_world(const SessionOptions& options, const LoadedRun& loaded,
                                                sim::SimRuntime& runtime) {
  simstate::KeptWorldOptions kept;
  kept.path = options.sim_state;
  kept.record = options.mode != "plan";  // apply, and whatever else changes the world (resume, rollback)
  kept.fixture = options.fixture;
  kept.scenario = options.scenario;
  kept.seed = options.seed;
  kept.secrets = loaded.named_secrets;
  std::unique_ptr<simstate::KeptWorld> world;
  try {
    world = std::make_unique<simstate::KeptWorld>(std::move(kept), runtime);
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
SessionResult run_sim(lua::Vm& vm, LoadedRun& loaded, const SessionOptions& options,
                      const std::vector<EventSink*>& sinks, const std::function<void(sim::SimRuntime&)>& load,
                      EventFields started, const std::function<void(EventBus&)>& before_run = {}) {
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
  parts.started = std::move(started);
  if (options.scenario) parts.started["scenario"] = *options.scenario;
  if (kept) {
    parts.started["sim_state"] = options.sim_state;
    parts.started["sim_state_inputs"] = kept->replayed();
    parts.started["sim_state_clock"] = runtime.now();
  }
  result.outcome = run_in(vm, loaded, options, parts, sinks, [&runtime, &before_run, &kept](EventBus& bus) {
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
  const bool plan = options.mode != "apply";
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
    std::string display = options.inventory ? "snapshot of the clusters of " + *options.inventory
                                            : "snapshot of context " + options.context;
    EventFields started = {{"world", "snapshot"}, {"targets", world->describe()}};
    world.reset();
    return run_sim(vm, loaded, options, sinks, [&](sim::SimRuntime& runtime) {
      runtime.load_document(fixture, display, ".", options.scenario);
    }, std::move(started), emit_early_warnings);
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
  SessionResult result;
  result.outcome = run_in(vm, loaded, options, parts, sinks, [&](EventBus& bus) {
    bus_ptr = &bus;
    emit_early_warnings(bus);
  });
  bus_ptr = nullptr;
  return result;
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
