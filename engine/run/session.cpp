#include "run/session.hpp"

#include <fmt/format.h>

#include "cluster/sim/sim_runtime.hpp"
#include "lua/cluster_binding.hpp"
#include "lua/lib_codecs.hpp"
#include "lua/lib_resource.hpp"
#include "lua/json_bridge.hpp"
#include "playbook/playbook.hpp"
#include "run/run_host.hpp"

namespace refit::run {

void prepare_vm(lua::Vm& vm) {
  lua::preload_codecs(vm);
  lua::preload_resource(vm);
}

namespace {

// Pushes ctx = require("refit.context").new(host, params, clusters, default) and returns a ref.
int make_context(lua::Vm& vm, RunHost& host, int params_ref, sim::World& world) {
  lua_State* L = vm.state();
  lua_getglobal(L, "require");
  lua_pushliteral(L, "refit.context");
  if (auto err = vm.pcall(1, 1)) throw SetupError(err->message);
  lua_getfield(L, -1, "new");
  lua_remove(L, -2);
  host.push_host_table(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, params_ref);
  lua_newtable(L);
  for (const auto& c : world.clusters()) {
    lua::push_cluster_handle(L, c.get(), &host);
    lua_setfield(L, -2, c->name().c_str());
  }
  lua_pushstring(L, world.default_cluster()->name().c_str());
  if (auto err = vm.pcall(4, 1)) throw SetupError(err->message);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

}  // namespace

SessionResult run_session(const SessionOptions& options, const std::vector<EventSink*>& sinks) {
  lua::Vm vm(options.vm);
  prepare_vm(vm);
  lua_State* L = vm.state();
  // Playbooks that use math.random get the same sequence for the same --seed.
  lua_getglobal(L, "math");
  lua_getfield(L, -1, "randomseed");
  lua_pushinteger(L, static_cast<lua_Integer>(options.seed));
  lua_call(L, 1, 0);
  lua_pop(L, 1);

  // 1. The playbook and its parameters, before any world exists.
  playbook::Loaded loaded;
  int params_ref = LUA_NOREF;
  try {
    loaded = playbook::load(vm, playbook::find(options.playbook));
    playbook::push_resolved_params(vm, loaded, playbook::read_raw_params(options.values_file, options.sets));
    params_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  } catch (const playbook::LoadError& e) {
    throw SetupError(e.what());
  }
  // What reports may show of the parameters: secrets never.
  nlohmann::json params, params_text, secrets;
  try {
    params = playbook::param_view(vm, loaded, params_ref, "redacted");
    params_text = playbook::param_view(vm, loaded, params_ref, "display");
    secrets = playbook::param_view(vm, loaded, params_ref, "secrets");
  } catch (const playbook::LoadError& e) {
    throw SetupError(e.what());
  }
  if (!params.is_object()) params = nlohmann::json::object();
  if (!params_text.is_object()) params_text = nlohmann::json::object();

  // 2. The world.
  if (options.fixture.empty()) {
    throw SetupError("a simulated world is needed: --sim FIXTURE (examples/clusters/ has some); "
                     "real clusters come in a later release");
  }
  sim::World world(options.seed);
  sim::SimRuntime runtime(vm, world);
  try {
    runtime.load(options.fixture, options.scenario);
  } catch (const sim::FixtureError& e) {
    throw SetupError(e.what());
  }

  SessionResult result;
  if (options.capture_world) result.world_before = runtime.dump();

  // 3. The run. Time is reported relative to its start.
  const std::int64_t origin = runtime.now();
  EventBus bus([&runtime, origin] { return runtime.now() - origin; });
  for (EventSink* sink : sinks) bus.add_sink(sink);
  if (secrets.is_array())
    for (const auto& secret : secrets) bus.add_secret(secret.get<std::string>());
  runtime.set_log([&bus](const std::string& msg) { bus.emit("world_log", {{"message", msg}}); });
  RunHost host(vm, bus, runtime, runtime);
  host.set_writes_files(options.mode == "apply");
  int ctx_ref = make_context(vm, host, params_ref, world);

  EventFields started = {{"playbook", loaded.name}, {"file", loaded.file}, {"mode", options.mode},
                         {"world", "sim"}, {"fixture", options.fixture}};
  if (options.scenario) started["scenario"] = *options.scenario;
  started["seed"] = options.seed;
  started["params"] = params;
  started["params_text"] = params_text;
  bus.emit("run_started", std::move(started));

  Runner runner(vm, host, loaded.ref, ctx_ref, loaded.file);
  result.outcome = runner.run();
  result.outcome.message = bus.redacted(result.outcome.message);
  if (options.capture_world) result.world_after = runtime.dump();
  return result;
}

}  // namespace refit::run
