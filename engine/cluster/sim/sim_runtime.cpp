#include "cluster/sim/sim_runtime.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/yaml.hpp"
#include "lua/cluster_binding.hpp"
#include "lua/guard.hpp"
#include "lua/json_bridge.hpp"
#include "lua/lib_codecs.hpp"

namespace refit::sim {

namespace {

std::string directory_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

data::Json read_yaml_file(const std::string& path, const char* what) {
  auto text = lua::Vm::read_user_file(path);
  if (!text) throw FixtureError(fmt::format("{}: cannot read {} file", path, what));
  try {
    data::Json doc = data::parse_yaml(*text);
    if (!doc.is_object()) throw FixtureError(fmt::format("{}: a {} is a YAML mapping", path, what));
    return doc;
  } catch (const data::YamlError& e) {
    throw FixtureError(fmt::format("{}:{}:{}: invalid YAML: {}", path, e.line, e.column, e.what()));
  }
}

}  // namespace

// The W primitives. Each gets the SimRuntime as upvalue 1.
struct SimPrimitives {
  static SimRuntime& rt(lua_State* L) { return *static_cast<SimRuntime*>(lua_touserdata(L, lua_upvalueindex(1))); }

  static int now(lua_State* L) {
    lua_pushinteger(L, rt(L).world_.clock().now_ms());
    return 1;
  }

  // W.after(ms, fn [, label]) -> id. Ids are never reused, so cancelling a stale id is harmless.
  static int after(lua_State* L) {
    SimRuntime& r = rt(L);
    lua_Integer ms = luaL_checkinteger(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    std::string label = luaL_optstring(L, 3, "");
    lua_pushvalue(L, 2);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    std::uint64_t timer = ++r.last_timer_;
    auto& clock = r.world_.clock();
    auto event = clock.schedule(clock.now_ms() + std::max<lua_Integer>(ms, 0), [&r, ref, timer, label]() {
      r.timers_.erase(timer);
      lua_State* S = r.vm_.state();
      lua_rawgeti(S, LUA_REGISTRYINDEX, ref);
      luaL_unref(S, LUA_REGISTRYINDEX, ref);
      if (auto err = r.vm_.pcall(0, 0)) r.record_model_error(label.empty() ? "a scheduled event" : label, *err);
    }, label);
    r.timers_[timer] = {ref, event};
    lua_pushinteger(L, static_cast<lua_Integer>(timer));
    return 1;
  }

  static int cancel(lua_State* L) {
    SimRuntime& r = rt(L);
    auto timer = static_cast<std::uint64_t>(luaL_checkinteger(L, 1));
    auto it = r.timers_.find(timer);
    if (it != r.timers_.end()) {
      luaL_unref(L, LUA_REGISTRYINDEX, it->second.first);
      r.world_.clock().cancel(it->second.second);
      r.timers_.erase(it);
    }
    return 0;
  }

  static int random(lua_State* L) {
    SeededRandom& rng = rt(L).world_.random();
    if (lua_gettop(L) == 0) {
      lua_pushnumber(L, rng.uniform());
    } else {
      lua_Integer lo = luaL_checkinteger(L, 1);
      lua_Integer hi = luaL_checkinteger(L, 2);
      luaL_argcheck(L, lo <= hi, 2, "interval is empty");
      lua_pushinteger(L, rng.range(lo, hi));
    }
    return 1;
  }

  // W.add_cluster(name, { version =, default =, kubeconfig = }) (kubeconfig: the fixture's, checked)
  static int add_cluster(lua_State* L) {
    SimRuntime& r = rt(L);
    luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    std::string name = lua_tostring(L, 1);
    lua_getfield(L, 2, "version");
    std::string version = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    lua_getfield(L, 2, "default");
    bool make_default = lua_toboolean(L, -1);
    lua_getfield(L, 2, "kubeconfig");
    nlohmann::json kubeconfig = lua_istable(L, -1) ? lua::to_json(L, -1) : nlohmann::json();
    lua_pop(L, 3);
    if (version.empty()) throw lua::Error(fmt::format("cluster \"{}\": version is required", name));
    SimCluster* cluster = nullptr;
    try {
      cluster = &r.world_.add_cluster(name, version, make_default);
    } catch (const std::exception& e) {
      throw lua::Error(e.what());
    }
    if (!kubeconfig.is_null()) cluster->set_kubeconfig(std::move(kubeconfig));
    r.watch_cluster(*cluster);
    cluster->set_evictor([&r](SimCluster& c, const ObjectRef& pod) { r.evict(c, pod); });
    lua::push_cluster_handle(L, cluster, nullptr, cluster);
    return 1;
  }

  // W.evictor(fn): fn(cluster, namespace, name) -> true | false, budget name | nil (not found);
  // the rules of the eviction subresource, which the kube model keeps.
  static int evictor(lua_State* L) {
    SimRuntime& r = rt(L);
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushvalue(L, 1);
    if (r.evictor_ref_ != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, r.evictor_ref_);
    r.evictor_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
  }

  static int cluster(lua_State* L) {
    SimRuntime& r = rt(L);
    luaL_checkstring(L, 1);
    std::string name = lua_tostring(L, 1);
    SimCluster* c = r.world_.find(name);
    if (c == nullptr) throw lua::Error(fmt::format("no cluster \"{}\" in the simulated world", name));
    lua::push_cluster_handle(L, c, nullptr, c);
    return 1;
  }

  static int clusters(lua_State* L) {
    SimRuntime& r = rt(L);
    lua_newtable(L);
    lua_Integer i = 1;
    for (const auto& c : r.world_.clusters()) {
      lua_pushstring(L, c->name().c_str());
      lua_rawseti(L, -2, i++);
    }
    return 1;
  }

  // W.on_change(cluster, kind, fn [, { old = true, status = false }]): `old` (the object before a
  // modification) is copied only for watchers that ask for it: most do not, and copying is most of
  // a change's cost. `status = false`: the watcher ignores changes made by patch_status (a
  // controller that reacts to spec changes, while its own status writes are most changes); when no
  // watcher wants them, they are not converted at all.
  static int on_change(lua_State* L) {
    SimRuntime& r = rt(L);
    luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    std::string cluster = lua_tostring(L, 1);
    std::string kind = lua_tostring(L, 2);
    bool wants_old = false;
    bool wants_status = true;
    if (lua_istable(L, 4)) {
      lua_getfield(L, 4, "old");
      wants_old = lua_toboolean(L, -1);
      lua_getfield(L, 4, "status");
      wants_status = lua_isnil(L, -1) || lua_toboolean(L, -1);
      lua_pop(L, 2);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, r.subs_ref_);
    if (lua_getfield(L, -1, cluster.c_str()) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, cluster.c_str());
    }
    if (lua_getfield(L, -1, kind.c_str()) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, kind.c_str());
    }
    if (wants_status) {
      lua_pushvalue(L, 3);
    } else {
      lua_createtable(L, 1, 0);
      lua_pushvalue(L, 3);
      lua_rawseti(L, -2, 1);
    }
    lua_rawseti(L, -2, static_cast<lua_Integer>(lua_rawlen(L, -2)) + 1);
    SimRuntime::Subscription& sub = r.subscribed_[{cluster, kind}];
    sub.status = sub.status || wants_status;
    if (wants_old && !sub.old) {
      sub.old = true;
      if (SimCluster* c = r.world_.find(cluster)) r.watch_cluster(*c);  // the store must now keep `old`
    }
    return 0;
  }

  static int tool(lua_State* L) {
    SimRuntime& r = rt(L);
    luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_rawgeti(L, LUA_REGISTRYINDEX, r.tools_ref_);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_rawset(L, -3);
    return 0;
  }

  // W.read_yaml(path) -> { doc, ... } (path relative to the fixture's directory)
  static int read_yaml(lua_State* L) {
    SimRuntime& r = rt(L);
    luaL_checkstring(L, 1);
    std::string rel = lua_tostring(L, 1);
    auto text = lua::Vm::read_source(lua::SourceDir{r.fixture_dir_, false}, rel);
    if (!text) throw lua::Error(fmt::format("{}: cannot read {} (paths are relative to the fixture's directory, without ..)",
                                            r.fixture_display_, rel), 0);
    std::vector<data::Json> docs;
    try {
      docs = data::parse_yaml_documents(*text);
    } catch (const data::YamlError& e) {
      throw lua::Error(fmt::format("{}/{}:{}:{}: invalid YAML: {}", r.fixture_dir_, rel, e.line, e.column, e.what()), 0);
    }
    lua::push_json(L, data::Json(docs));
    return 1;
  }

  static std::string format_args(lua_State* L, int first) {
    // string.format(fmt, ...) from the arguments at `first`, protected: a bad format is an error
    // message, not a longjmp over this C++ frame.
    int n = lua_gettop(L);
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "format");
    for (int i = first; i <= n; ++i) lua_pushvalue(L, i);
    int status = lua_pcall(L, n - first + 1, 1, 0);
    std::string out = lua_isstring(L, -1) ? lua_tostring(L, -1) : "(no message)";
    lua_pop(L, 2);
    if (status != LUA_OK) throw lua::Error("bad message format: " + out);
    return out;
  }

  // (path, fmt, ...) -> raises "<file>: <path>: <message>"
  [[noreturn]] static void file_error(lua_State* L, const std::string& file) {
    luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    std::string field = lua_tostring(L, 1);
    std::string msg = format_args(L, 2);
    throw lua::Error(fmt::format("{}: {}: {}", file, field, msg), 0);
  }
  static int fixture_error(lua_State* L) { file_error(L, rt(L).fixture_display_); }
  static int scenario_error(lua_State* L) { file_error(L, rt(L).scenario_display_); }

  // W.run_until(pred, timeout_ms, poll_ms) -> true when pred() held, false at the timeout. Lets a
  // tool model wait as the real tool would (eksctl waits for a node group update); the time it
  // lets pass is part of the command's duration.
  static int run_until(lua_State* L) {
    SimRuntime& r = rt(L);
    luaL_checktype(L, 1, LUA_TFUNCTION);
    const lua_Integer timeout = luaL_checkinteger(L, 2);
    const lua_Integer poll = std::max<lua_Integer>(luaL_optinteger(L, 3, 10'000), 1);
    const std::int64_t deadline = r.world_.clock().now_ms() + std::max<lua_Integer>(timeout, 0);
    for (;;) {
      lua_pushvalue(L, 1);
      if (auto err = r.vm_.pcall(0, 1)) throw lua::Error(err->message, 0);
      bool done = lua_toboolean(L, -1);
      lua_pop(L, 1);
      std::int64_t now = r.world_.clock().now_ms();
      if (done || now >= deadline) {
        lua_pushboolean(L, done);
        return 1;
      }
      r.advance_to(std::min<std::int64_t>(now + poll, deadline));
    }
  }

  static int log(lua_State* L) {
    SimRuntime& r = rt(L);
    luaL_checkstring(L, 1);
    std::string msg = format_args(L, 1);
    if (r.log_) r.log_(msg);
    return 0;
  }
};

SimRuntime::SimRuntime(lua::Vm& vm, World& world) : vm_(vm), world_(world) {
  lua_State* L = vm_.state();
  lua_newtable(L);
  tools_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  subs_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);

  const luaL_Reg fns[] = {{"now", lua::guarded<SimPrimitives::now>},
                          {"after", lua::guarded<SimPrimitives::after>},
                          {"cancel", lua::guarded<SimPrimitives::cancel>},
                          {"random", lua::guarded<SimPrimitives::random>},
                          {"add_cluster", lua::guarded<SimPrimitives::add_cluster>},
                          {"cluster", lua::guarded<SimPrimitives::cluster>},
                          {"clusters", lua::guarded<SimPrimitives::clusters>},
                          {"on_change", lua::guarded<SimPrimitives::on_change>},
                          {"tool", lua::guarded<SimPrimitives::tool>},
                          {"read_yaml", lua::guarded<SimPrimitives::read_yaml>},
                          {"fixture_error", lua::guarded<SimPrimitives::fixture_error>},
                          {"scenario_error", lua::guarded<SimPrimitives::scenario_error>},
                          {"run_until", lua::guarded<SimPrimitives::run_until>},
                          {"log", lua::guarded<SimPrimitives::log>},
                          {"evictor", lua::guarded<SimPrimitives::evictor>},
                          {nullptr, nullptr}};
  lua_newtable(L);
  for (const luaL_Reg* f = fns; f->name != nullptr; ++f) {
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, f->func, 1);
    lua_setfield(L, -2, f->name);
  }
  lua_newtable(L);
  lua_setfield(L, -2, "cloud");
  lua_newtable(L);
  lua_setfield(L, -2, "scenario");
  lua::open_json(L);
  lua_setfield(L, -2, "json");
  lua::open_yaml(L);
  lua_setfield(L, -2, "yaml");
  w_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
}

SimRuntime::~SimRuntime() {
  // Scheduled callbacks capture `this`; the clock must not outlive us with them.
  for (const auto& [timer, entry] : timers_) world_.clock().cancel(entry.second);
  for (auto& c : world_.clusters()) {
    c->store().set_observer(nullptr);
    c->set_evictor(nullptr);
  }
}

namespace {

// Builds the Lua change table { type, object [, old] } and returns a registry reference to it. Runs
// under lua_pcall (from the store's observer, a C++ frame), so a memory error cannot longjmp over it.
struct ChangeSnapshot {
  const Change* change;
  int ref;
  bool with_old;  // some watcher asked for `old` (the change tap may want it when none does)
};
int snapshot_change(lua_State* L) {
  auto* snap = static_cast<ChangeSnapshot*>(lua_touserdata(L, 1));
  lua_createtable(L, 0, 3);
  lua_pushstring(L, std::string(to_string(snap->change->type)).c_str());
  lua_setfield(L, -2, "type");
  lua::push_json(L, snap->change->object, lua::NullMode::Drop);
  lua_setfield(L, -2, "object");
  if (snap->with_old && snap->change->old != nullptr) {
    lua::push_json(L, *snap->change->old, lua::NullMode::Drop);
    lua_setfield(L, -2, "old");
  }
  snap->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

}  // namespace

void SimRuntime::watch_cluster(SimCluster& cluster) {
  std::string name = cluster.name();
  bool wants_old = tap_wants_old_;
  for (const auto& [key, sub] : subscribed_)
    if (key.first == name) wants_old = wants_old || sub.old;
  cluster.store().set_observer([this, name](const Change& change) {
    if (tap_) tap_(name, change);
    const std::string& kind = change.object.value("kind", std::string());
    auto sub = subscribed_.find({name, kind});
    if (sub == subscribed_.end() || (change.status_only && !sub->second.status)) return;
    // The watchers run after the operation that caused the change, at the same virtual time; the
    // change is converted to Lua now, as it is, so a later write cannot alter what they see.
    lua_State* L = vm_.state();
    ChangeSnapshot snap{&change, LUA_NOREF, sub->second.old};
    lua_pushcfunction(L, snapshot_change);
    lua_pushlightuserdata(L, &snap);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      lua::CallError error{lua_isstring(L, -1) ? lua_tostring(L, -1) : "cannot record a change", "", false, true};
      lua_pop(L, 1);
      record_model_error(fmt::format("the {} watcher of cluster {}", kind, name), error);
      return;
    }
    auto& clock = world_.clock();
    int ref = snap.ref;
    bool status_only = change.status_only;
    clock.schedule(clock.now_ms(), [this, name, kind, ref, status_only]() {
      lua_State* S = vm_.state();
      lua_rawgeti(S, LUA_REGISTRYINDEX, subs_ref_);
      lua_getfield(S, -1, name.c_str());
      lua_getfield(S, -1, kind.c_str());
      int list = lua_gettop(S);
      lua_rawgeti(S, LUA_REGISTRYINDEX, ref);  // one change table, shared by all watchers (read-only)
      luaL_unref(S, LUA_REGISTRYINDEX, ref);
      int change_table = lua_gettop(S);
      auto n = static_cast<lua_Integer>(lua_rawlen(S, list));
      for (lua_Integer i = 1; i <= n; ++i) {
        if (lua_rawgeti(S, list, i) == LUA_TTABLE) {  // { fn }: a watcher of everything but status
          if (status_only) {
            lua_pop(S, 1);
            continue;
          }
          lua_rawgeti(S, -1, 1);
          lua_remove(S, -2);
        }
        lua_pushvalue(S, change_table);
        if (auto err = vm_.pcall(1, 0)) record_model_error(fmt::format("the {} watcher of cluster {}", kind, name), *err);
      }
      lua_pop(S, 4);
    }, "change " + kind);
  }, wants_old);
}

void SimRuntime::set_change_tap_with_old(ChangeTap tap) {
  tap_ = std::move(tap);
  tap_wants_old_ = true;
  for (auto& c : world_.clusters()) watch_cluster(*c);
}

void SimRuntime::evict(SimCluster& cluster, const ObjectRef& pod) {
  std::string where = pod.ns + "/" + pod.name;
  if (evictor_ref_ == LUA_NOREF) {
    if (cluster.store().get(pod) == nullptr) throw cluster::ApiError(404, "NotFound", "Pod " + where + " not found");
    cluster.store().remove(pod);
    return;
  }
  lua_State* L = vm_.state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, evictor_ref_);
  lua_pushstring(L, cluster.name().c_str());
  lua_pushstring(L, pod.ns.c_str());
  lua_pushstring(L, pod.name.c_str());
  if (auto err = vm_.pcall(3, 2)) throw cluster::ApiError(500, "InternalError", "the eviction model failed: " + err->message);
  bool nil = lua_isnil(L, -2);
  bool ok = lua_toboolean(L, -2);
  std::string budget = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  lua_pop(L, 2);
  if (nil) throw cluster::ApiError(404, "NotFound", "Pod " + where + " not found");
  if (!ok) {
    // The API server's words, with the budget named (it says it in the Status details).
    throw cluster::ApiError(429, "TooManyRequests",
                            fmt::format("Cannot evict pod {} as it would violate the pod's disruption budget {}", where,
                                        budget.empty() ? "" : pod.ns + "/" + budget));
  }
}

void SimRuntime::record_model_error(const std::string& what, const lua::CallError& error) {
  if (model_error_) return;  // the first failure is the cause; later ones follow from it
  model_error_ = fmt::format("the simulated world failed in {}: {}\n{}", what, error.message, error.traceback);
}

void SimRuntime::advance_to(std::int64_t t) {
  world_.clock().advance_to(t);
  if (model_error_) throw std::runtime_error(*model_error_);
}

void SimRuntime::load(const std::string& fixture_path, const std::optional<std::string>& scenario_path) {
  data::Json fixture = read_yaml_file(fixture_path, "fixture");
  load_document(fixture, fixture_path, directory_of(fixture_path), scenario_path);
}

void SimRuntime::load_document(const nlohmann::json& fixture, const std::string& display, const std::string& dir,
                               const std::optional<std::string>& scenario_path) {
  fixture_display_ = display;
  fixture_dir_ = dir;
  scenario_display_ = scenario_path.value_or("scenario");
  std::optional<data::Json> scenario;
  if (scenario_path) scenario = read_yaml_file(*scenario_path, "scenario");

  lua_State* L = vm_.state();
  lua::SourceDir stdlib = vm_.stdlib_dir();
  auto source = lua::Vm::read_source(stdlib, "refit/sim/init.lua");
  if (!source) throw FixtureError("the simulation models are missing: no refit/sim/init.lua in the stdlib");
  if (auto err = vm_.load_source(*source, stdlib.path + "/refit/sim/init.lua", stdlib)) throw FixtureError(*err);
  lua_rawgeti(L, LUA_REGISTRYINDEX, w_ref_);
  if (scenario) {
    lua::push_json(L, *scenario, lua::NullMode::Drop);
    lua_setfield(L, -2, "scenario");
  }
  if (auto err = vm_.pcall(1, 1)) throw FixtureError(err->message);
  lua::push_json(L, fixture, lua::NullMode::Drop);
  lua_pushstring(L, fixture_dir_.c_str());
  if (scenario) lua::push_json(L, *scenario, lua::NullMode::Drop);
  else lua_pushnil(L);
  if (auto err = vm_.pcall(3, 1)) throw FixtureError(err->message);
  if (lua_isfunction(L, -1)) {
    add_cluster_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
  } else {
    lua_pop(L, 1);
  }
  // Whatever the fixture scheduled at time zero (controllers settling) happens before the run.
  advance_to(0);
  if (world_.clusters().empty()) throw FixtureError(fmt::format("{}: the fixture defines no clusters", display));
}

void SimRuntime::add_cluster(const std::string& name, const nlohmann::json& entry, const std::string& display) {
  if (add_cluster_ref_ == LUA_NOREF) throw FixtureError("the simulated world cannot add a cluster: no world is loaded");
  // The entry's mistakes are named after it, not after the fixture the world was loaded from.
  std::string fixture_display = std::exchange(fixture_display_, display);
  lua_State* L = vm_.state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, add_cluster_ref_);
  lua_pushstring(L, name.c_str());
  lua::push_json(L, entry, lua::NullMode::Drop);
  auto err = vm_.pcall(2, 0);
  fixture_display_ = std::move(fixture_display);
  if (err) throw FixtureError(err->message);
  // What the new cluster's controllers scheduled at once happens before the run goes on.
  advance_to(now());
}

std::vector<std::string> SimRuntime::tool_names() {
  lua_State* L = vm_.state();
  std::vector<std::string> names;
  lua_rawgeti(L, LUA_REGISTRYINDEX, tools_ref_);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    if (lua_type(L, -2) == LUA_TSTRING) names.emplace_back(lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  std::sort(names.begin(), names.end());
  return names;
}

exec::Result SimRuntime::run(const exec::Request& request) {
  lua_State* L = vm_.state();
  const std::string& program = request.argv.front();
  lua_rawgeti(L, LUA_REGISTRYINDEX, tools_ref_);
  lua_getfield(L, -1, program.c_str());
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 2);
    std::vector<std::string> known = tool_names();  // sorted: the message is the same on every run
    return exec::Result{127, "",
                        fmt::format("refit: the simulated world has no model of '{}' (it models: {})\n", program,
                                    known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", "))),
                        0};
  }
  lua_remove(L, -2);
  lua_createtable(L, static_cast<int>(request.argv.size()), 0);
  for (std::size_t i = 1; i < request.argv.size(); ++i) {
    lua_pushstring(L, request.argv[i].c_str());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i));
  }
  const std::int64_t started = world_.clock().now_ms();  // a model may let time pass (W.run_until)
  lua_createtable(L, 0, 1);
  SimCluster* def = world_.default_cluster();
  lua_pushstring(L, def ? def->name().c_str() : "");
  lua_setfield(L, -2, "cluster");
  if (auto err = vm_.pcall(2, 1)) {
    throw std::runtime_error(fmt::format("the simulated '{}' failed: {}", program, err->message));
  }
  // Read without raising: C++ objects are alive in this frame.
  exec::Result result;
  result.duration_ms = 1000;  // a CLI call takes about a second when the model does not say
  if (lua_istable(L, -1)) {
    int isnum = 0;
    lua_getfield(L, -1, "code");
    lua_Integer code = lua_tointegerx(L, -1, &isnum);
    if (isnum) result.code = static_cast<int>(code);
    lua_getfield(L, -2, "stdout");
    if (lua_type(L, -1) == LUA_TSTRING) result.out = lua_tostring(L, -1);
    lua_getfield(L, -3, "stderr");
    if (lua_type(L, -1) == LUA_TSTRING) result.err = lua_tostring(L, -1);
    lua_getfield(L, -4, "duration");
    lua_Integer duration = lua_tointegerx(L, -1, &isnum);
    if (isnum) result.duration_ms = duration;
    lua_getfield(L, -5, "changed");
    result.changed = lua_toboolean(L, -1);
    lua_pop(L, 5);
  }
  lua_pop(L, 1);
  result.duration_ms += world_.clock().now_ms() - started;
  return result;
}

nlohmann::json SimRuntime::dump() {
  lua_State* L = vm_.state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, w_ref_);
  lua_getfield(L, -1, "cloud");
  nlohmann::json cloud = lua::to_json(L, -1);
  lua_pop(L, 2);
  return {{"clusters", world_.dump_clusters()}, {"cloud", cloud}};
}

}  // namespace refit::sim
