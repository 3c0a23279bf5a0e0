#include "run/snapshot_hooks.hpp"

#include <fmt/format.h>

#include "lua/json_bridge.hpp"
#include "playbook/playbook.hpp"
#include "run/run_context.hpp"
#include "run/run_host.hpp"
#include "run/session.hpp"

namespace refit::run {

namespace {

// What a hook logs and runs, handed to the caller's warn and note.
class HookEvents final : public EventSink {
 public:
  explicit HookEvents(const SnapshotHookOptions& options) : options_(options) {}

  void on_event(const Event& event) override {
    const auto& f = event.fields;
    if (event.name == "log") {
      std::string message = f.value("message", "");
      if (f.value("level", "") == "warn") {
        if (options_.warn) options_.warn(message);
      } else if (options_.note) {
        options_.note(message);
      }
    } else if (event.name == "command" && options_.note) {
      std::string argv;
      for (const auto& a : f.value("argv", nlohmann::json::array())) argv += (argv.empty() ? "" : " ") + a.get<std::string>();
      options_.note(fmt::format("ran {} (exit {})", argv, f.value("code", 0)));
    }
  }

 private:
  const SnapshotHookOptions& options_;
};

struct Hook {
  std::string section;
  int fn_ref = LUA_NOREF;
};

}  // namespace

struct SnapshotHooks::Impl {
  SnapshotHookOptions options;
  lua::Vm vm;
  playbook::Loaded playbook;
  int params_ref = LUA_NOREF;
  nlohmann::json secrets;
  std::vector<Hook> hooks;
  std::vector<std::string> sections;

  explicit Impl(SnapshotHookOptions o) : options(std::move(o)), vm(options.vm) {}
};

SnapshotHooks::SnapshotHooks(SnapshotHookOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& h = *impl_;
  prepare_vm(h.vm);
  lua_State* L = h.vm.state();
  h.playbook = playbook::load(h.vm, playbook::find(h.options.playbook));
  playbook::push_resolved_params(h.vm, h.playbook, playbook::read_raw_params(h.options.values_file, h.options.sets));
  h.params_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  h.secrets = playbook::param_view(h.vm, h.playbook, h.params_ref, "secrets");
  // refit.validate lists them as { { section =, fn = }, ... }, sorted by section.
  lua_rawgeti(L, LUA_REGISTRYINDEX, h.playbook.ref);
  lua_getfield(L, -1, "snapshot");
  if (lua_istable(L, -1)) {
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TTABLE; ++i) {
      lua_getfield(L, -1, "section");
      Hook hook{lua_tostring(L, -1), LUA_NOREF};
      lua_pop(L, 1);
      lua_getfield(L, -1, "fn");
      hook.fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
      lua_pop(L, 1);
      h.sections.push_back(hook.section);
      h.hooks.push_back(std::move(hook));
    }
    lua_pop(L, 1);  // the non-table that ended the list
  }
  lua_pop(L, 2);
}

SnapshotHooks::~SnapshotHooks() = default;

const std::vector<std::string>& SnapshotHooks::sections() const { return impl_->sections; }

void SnapshotHooks::read(RealWorld& world, nlohmann::json& fixture) {
  Impl& h = *impl_;
  if (h.hooks.empty()) return;
  lua_State* L = h.vm.state();
  HookEvents events(h.options);
  EventBus bus([&world] { return world.timeline().now(); });
  bus.add_sink(&events);
  if (h.secrets.is_array())
    for (const auto& secret : h.secrets) bus.add_secret(secret.get<std::string>());
  RunHost host(h.vm, bus, world.timeline(), world.executor());
  // A hook reads: a write through a cluster handle, or a command marked mutates = true, is refused
  // before it is sent, with the hook's line.
  host.set_read_only("snapshot");
  const std::string& target = world.default_name();
  int ctx_ref = LUA_NOREF;
  try {
    ctx_ref = make_context(h.vm, host, h.params_ref, world.clusters(), target);
  } catch (const std::runtime_error& e) {
    throw SnapshotHookError(e.what());
  }
  nlohmann::json& entry = fixture["clusters"][target];
  for (const Hook& hook : h.hooks) {
    auto where = [&] {
      return fmt::format("the {} section of cluster {} (the snapshot hook of {})", hook.section, target,
                         h.playbook.name);
    };
    bus.set_position("", "snapshot");
    lua_rawgeti(L, LUA_REGISTRYINDEX, hook.fn_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx_ref);
    if (auto err = h.vm.pcall(1, 1)) {
      throw SnapshotHookError(bus.redacted(fmt::format("cannot read {}: {}", where(), err->message)));
    }
    if (lua_isnil(L, -1)) {  // the cluster has no such side
      lua_pop(L, 1);
      continue;
    }
    if (!lua_istable(L, -1)) {
      std::string got = luaL_typename(L, -1);
      lua_pop(L, 1);
      throw SnapshotHookError(fmt::format("{}: the hook must return the fixture section (a table) or nil, got {}",
                                          where(), got));
    }
    try {
      entry[hook.section] = lua::to_json(L, -1);
    } catch (const std::exception& e) {
      lua_pop(L, 1);
      throw SnapshotHookError(fmt::format("{}: the section it returned is not data: {}", where(), e.what()));
    }
    lua_pop(L, 1);
  }
  luaL_unref(L, LUA_REGISTRYINDEX, ctx_ref);
}

}  // namespace refit::run
