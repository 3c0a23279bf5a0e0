#include "lua_compare.hpp"

#include <cstring>

#include <fmt/format.h>

#include "lua/json_bridge.hpp"

namespace refit::test {

namespace {

std::string shown(lua_State* L, int index) {
  if (lua_type(L, index) == LUA_TSTRING) return fmt::format("\"{}\"", lua_tostring(L, index));
  std::string text = luaL_tolstring(L, index, nullptr);  // 1.0 for a float, 1 for an integer
  lua_pop(L, 1);
  return text;
}

bool marked_array(lua_State* L, int index) {
  if (!lua_getmetatable(L, index)) return false;
  lua::push_array_marker(L);
  bool marked = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return marked;
}

std::string at(const std::string& path, const std::string& what) { return path.empty() ? what : path + ": " + what; }

std::string difference(lua_State* L, int a, int b, const std::string& path) {
  luaL_checkstack(L, 8, "values nested too deep");
  const int type = lua_type(L, a);
  if (type != lua_type(L, b)) {
    return at(path, fmt::format("{} here, {} there", luaL_typename(L, a), luaL_typename(L, b)));
  }
  switch (type) {
    case LUA_TNUMBER: {
      bool integer = lua_isinteger(L, a);
      if (integer != static_cast<bool>(lua_isinteger(L, b))) {
        return at(path, fmt::format("{} {} here, {} {} there", integer ? "integer" : "float", shown(L, a),
                                    integer ? "float" : "integer", shown(L, b)));
      }
      bool same = false;
      if (integer) {
        same = lua_tointeger(L, a) == lua_tointeger(L, b);
      } else {
        double x = lua_tonumber(L, a), y = lua_tonumber(L, b);
        same = std::memcmp(&x, &y, sizeof x) == 0;  // -0.0 is not 0.0
      }
      return same ? "" : at(path, fmt::format("{} here, {} there", shown(L, a), shown(L, b)));
    }
    case LUA_TSTRING: {
      std::size_t na = 0, nb = 0;
      const char* sa = lua_tolstring(L, a, &na);
      const char* sb = lua_tolstring(L, b, &nb);
      bool same = na == nb && std::memcmp(sa, sb, na) == 0;
      return same ? "" : at(path, fmt::format("{} here, {} there", shown(L, a), shown(L, b)));
    }
    case LUA_TTABLE: break;
    default:
      return lua_rawequal(L, a, b) ? "" : at(path, fmt::format("{} here, {} there", shown(L, a), shown(L, b)));
  }
  bool array = marked_array(L, a);
  if (array != marked_array(L, b)) return at(path, array ? "an array here, a map there" : "a map here, an array there");
  const int meta_a = lua_getmetatable(L, a);
  const int meta_b = lua_getmetatable(L, b);
  const bool same_metatable = meta_a == meta_b && (meta_a == 0 || lua_rawequal(L, -1, -2));
  lua_pop(L, meta_a + meta_b);
  if (!same_metatable) return at(path, "another metatable here than there");
  std::size_t keys_a = 0, keys_b = 0;
  const int top = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, a) != 0) {
    ++keys_a;
    std::string key = lua_type(L, -2) == LUA_TSTRING    ? "." + std::string(lua_tostring(L, -2))
                      : lua_isinteger(L, -2)           ? fmt::format("[{}]", lua_tointeger(L, -2))
                                                        : fmt::format("[{}]", luaL_typename(L, -2));
    lua_pushvalue(L, -2);
    lua_rawget(L, b);
    std::string inner = difference(L, lua_absindex(L, -2), lua_absindex(L, -1), path + key);
    if (!inner.empty()) {
      lua_settop(L, top);
      return inner;
    }
    lua_pop(L, 2);
  }
  lua_pushnil(L);
  while (lua_next(L, b) != 0) {
    ++keys_b;
    lua_pop(L, 1);
  }
  lua_settop(L, top);
  return keys_a == keys_b ? "" : at(path, fmt::format("{} keys there, {} here", keys_b, keys_a));
}

}  // namespace

std::string describe_difference(lua_State* L, int a, int b) {
  const int top = lua_gettop(L);
  std::string out = difference(L, lua_absindex(L, a), lua_absindex(L, b), "");
  lua_settop(L, top);
  return out;
}

}  // namespace refit::test
