#include "lua/lib_codecs.hpp"

#include <fmt/format.h>

#include "data/yaml.hpp"
#include "lua/guard.hpp"
#include "lua/json_bridge.hpp"

namespace refit::lua {

namespace {

// Decoding errors are operational (bad input), so they return nil, message (lauxlib's convention);
// misuse (a non-string argument) raises.
int json_decode(lua_State* L) {
  std::size_t len = 0;
  const char* text = luaL_checklstring(L, 1, &len);
  Json value;
  try {
    value = Json::parse(text, text + len);
  } catch (const Json::parse_error& e) {
    lua_pushnil(L);
    lua_pushstring(L, fmt::format("invalid JSON at byte {}: {}", e.byte, e.what()).c_str());
    return 2;
  }
  push_json(L, value);
  return 1;
}

int json_encode(lua_State* L) {
  luaL_checkany(L, 1);
  bool pretty = false;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "pretty");
    pretty = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  Json value;
  try {
    value = to_json(L, 1);
  } catch (const std::exception& e) {
    throw Error(fmt::format("json.encode: {}", e.what()));
  }
  std::string out = pretty ? value.dump(2) : value.dump();
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

int json_array(lua_State* L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  push_array_marker(L);
  lua_setmetatable(L, 1);
  return 1;
}

int json_is_array(lua_State* L) {
  bool marked = false;
  if (lua_getmetatable(L, 1)) {
    push_array_marker(L);
    marked = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, marked);
  return 1;
}

std::string yaml_error_text(const data::YamlError& e) {
  if (e.line > 0) return fmt::format("invalid YAML at line {}, column {}: {}", e.line, e.column, e.what());
  return fmt::format("invalid YAML: {}", e.what());
}

int yaml_decode(lua_State* L) {
  std::string text = luaL_checkstring(L, 1);
  Json value;
  try {
    value = data::parse_yaml(text);
  } catch (const data::YamlError& e) {
    lua_pushnil(L);
    lua_pushstring(L, yaml_error_text(e).c_str());
    return 2;
  }
  push_json(L, value);
  return 1;
}

int yaml_decode_all(lua_State* L) {
  std::string text = luaL_checkstring(L, 1);
  std::vector<Json> docs;
  try {
    docs = data::parse_yaml_documents(text);
  } catch (const data::YamlError& e) {
    lua_pushnil(L);
    lua_pushstring(L, yaml_error_text(e).c_str());
    return 2;
  }
  push_json(L, Json(docs));
  return 1;
}

int yaml_encode(lua_State* L) {
  luaL_checkany(L, 1);
  Json value;
  try {
    value = to_json(L, 1);
  } catch (const std::exception& e) {
    throw Error(fmt::format("yaml.encode: {}", e.what()));
  }
  std::string out = data::to_yaml(value);
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

}  // namespace

int open_json(lua_State* L) {
  const luaL_Reg fns[] = {{"decode", guarded<json_decode>}, {"encode", guarded<json_encode>},
                          {"array", json_array},             {"is_array", json_is_array},
                          {nullptr, nullptr}};
  luaL_newlib(L, fns);
  push_null(L);
  lua_setfield(L, -2, "null");
  return 1;
}

int open_yaml(lua_State* L) {
  const luaL_Reg fns[] = {{"decode", guarded<yaml_decode>},
                          {"decode_all", guarded<yaml_decode_all>},
                          {"encode", guarded<yaml_encode>},
                          {nullptr, nullptr}};
  luaL_newlib(L, fns);
  return 1;
}

void preload_codecs(Vm& vm) {
  open_json(vm.state());
  vm.preload_value("refit.json");
  open_yaml(vm.state());
  vm.preload_value("refit.yaml");
}

}  // namespace refit::lua
