// Reading fields of the Lua table at a stack index, without raising (C++ objects may be alive).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "lua/lua.hpp"

namespace refit::lua {

// t[key] when it is a string, else "". [-0, +0, -]
inline std::string string_field(lua_State* L, int index, const char* key) {
  lua_getfield(L, index, key);
  std::string out = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  lua_pop(L, 1);
  return out;
}

// t[key] when it is an integer. [-0, +0, -]
inline std::optional<std::int64_t> integer_field(lua_State* L, int index, const char* key) {
  lua_getfield(L, index, key);
  std::optional<std::int64_t> out;
  if (lua_isinteger(L, -1)) out = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return out;
}

// t[key] is truthy, when the value at `index` is a table at all. [-0, +0, -]
inline bool bool_field(lua_State* L, int index, const char* key) {
  if (!lua_istable(L, index)) return false;
  lua_getfield(L, index, key);
  bool out = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return out;
}

}  // namespace refit::lua
