// The `host` table: RunHost's primitives as Lua functions, for stdlib/refit/context.lua.
#include <fmt/format.h>

#include "lua/guard.hpp"
#include "lua/json_bridge.hpp"
#include "run/run_host.hpp"

namespace refit::run {

namespace {

RunHost& host(lua_State* L) { return *static_cast<RunHost*>(lua_touserdata(L, lua_upvalueindex(1))); }

// host.wait(what, predicate, timeout_ms, interval_ms)
int l_wait(lua_State* L) {
  // Every check that can raise comes before the first C++ object (guard.hpp).
  luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  auto timeout = luaL_checkinteger(L, 3);
  auto interval = luaL_checkinteger(L, 4);
  std::string what = lua_tostring(L, 1);
  host(L).wait(what, 2, timeout, interval);
  lua_pushboolean(L, 1);
  return 1;
}

int l_sleep(lua_State* L) {
  host(L).sleep(luaL_checkinteger(L, 1));
  return 0;
}

// host.exec(argv, mutates, timeout_ms_or_nil) -> { code, stdout, stderr, duration }
int l_exec(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  exec::Request req;
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, 1));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, 1, i);
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
      throw lua::Error(fmt::format("exec: argument {} must be a string, got {}", i, luaL_typename(L, -1)), 2);
    }
    req.argv.emplace_back(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  if (req.argv.empty()) throw lua::Error("exec: the command is empty", 2);
  req.mutates = lua_toboolean(L, 2);
  if (lua_isinteger(L, 3)) req.timeout_ms = lua_tointeger(L, 3);
  exec::Result r = host(L).exec(req);
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, r.code);
  lua_setfield(L, -2, "code");
  lua_pushlstring(L, r.out.data(), r.out.size());
  lua_setfield(L, -2, "stdout");
  lua_pushlstring(L, r.err.data(), r.err.size());
  lua_setfield(L, -2, "stderr");
  lua_pushinteger(L, r.duration_ms);
  lua_setfield(L, -2, "duration");
  return 1;
}

int l_log(lua_State* L) {
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  host(L).log(lua_tostring(L, 1), lua_tostring(L, 2));
  return 0;
}

int l_state_set(lua_State* L) {
  luaL_checkstring(L, 1);
  std::string key = lua_tostring(L, 1);
  nlohmann::json value;
  try {
    value = lua::to_json(L, 2);
  } catch (const std::exception& e) {
    throw lua::Error(fmt::format("ctx.state.{} must be data (strings, numbers, booleans, tables): {}", key, e.what()), 3);
  }
  host(L).state_set(key, value);
  return 0;
}

// host.write_file(path, content)
int l_write_file(lua_State* L) {
  size_t len = 0;
  luaL_checkstring(L, 1);
  const char* data = luaL_checklstring(L, 2, &len);
  std::string path = lua_tostring(L, 1);
  host(L).write_file(path, std::string(data, len));
  return 0;
}

// host.where() -> "file:line: " of the nearest Lua code outside the stdlib: the playbook line an
// error is about, even when a stdlib helper made the call that failed.
int l_where(lua_State* L) {
  lua::SourceDir stdlib = lua::Vm::from(L).stdlib_dir();
  std::string prefix = "@" + stdlib.path + "/";
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar) != 0; ++level) {
    if (lua_getinfo(L, "Sl", &ar) == 0 || ar.currentline <= 0) continue;  // C functions have no line
    if (std::string_view(ar.source).rfind(prefix, 0) == 0) continue;
    lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
    return 1;
  }
  lua_pushliteral(L, "");
  return 1;
}

// host.connect(kubeconfig_text, cluster_name) -> handle (real worlds only)
int l_connect(lua_State* L) {
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  RunHost& h = host(L);
  cluster::Cluster* c = h.connect(lua_tostring(L, 1), lua_tostring(L, 2));
  lua::push_cluster_handle(L, c, &h);
  return 1;
}

int l_now(lua_State* L) {
  lua_pushinteger(L, host(L).timeline().now());
  return 1;
}

}  // namespace

void RunHost::push_host_table(lua_State* L) {
  const luaL_Reg fns[] = {{"wait", lua::guarded<l_wait>},   {"sleep", lua::guarded<l_sleep>},
                          {"exec", lua::guarded<l_exec>},   {"log", lua::guarded<l_log>},
                          {"state_set", lua::guarded<l_state_set>}, {"now", lua::guarded<l_now>},
                          {"where", lua::guarded<l_where>}, {"write_file", lua::guarded<l_write_file>},
                          {nullptr, nullptr}};
  lua_newtable(L);
  for (const luaL_Reg* f = fns; f->name != nullptr; ++f) {
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, f->func, 1);
    lua_setfield(L, -2, f->name);
  }
  if (connector_) {
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, lua::guarded<l_connect>, 1);
    lua_setfield(L, -2, "connect");
  }
}

}  // namespace refit::run
