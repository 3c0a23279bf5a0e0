#include "run/run_context.hpp"

#include <stdexcept>

#include "lua/cluster_binding.hpp"
#include "lua/json_bridge.hpp"

namespace refit::run {

int make_context(lua::Vm& vm, RunHost& host, int params_ref, const NamedClusters& clusters,
                 const std::string& default_name, const nlohmann::json& state) {
  lua_State* L = vm.state();
  lua_getglobal(L, "require");
  lua_pushliteral(L, "refit.context");
  if (auto err = vm.pcall(1, 1)) throw std::runtime_error(err->message);
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
  if (state.is_object()) lua::push_json(L, state, lua::NullMode::Drop);
  else lua_pushnil(L);
  if (auto err = vm.pcall(5, 1)) throw std::runtime_error(err->message);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

}  // namespace refit::run
