// Exception firewall for lua_CFunctions.
//
// Lua (the C build) raises errors with longjmp, which skips C++ destructors, and a C++ exception
// must never unwind through Lua frames. `guarded<F>` runs F inside try/catch; a caught exception's
// message is copied onto the Lua stack and lua_error is raised only after F's frame (and all its
// C++ objects) is gone. Inside F, raise user-facing errors by throwing refit::lua::Error, and call
// luaL_check* only before creating objects with destructors.
#pragma once
#include <stdexcept>
#include <string>

#include "lua/lua.hpp"

namespace refit::lua {

// An error meant for the playbook author. `level` as in Lua's error(): 1 = position of the Lua
// code that called the C function, 0 = no position.
struct Error : std::runtime_error {
  explicit Error(const std::string& message, int level = 1) : std::runtime_error(message), level(level) {}
  int level;
};

namespace detail {
// Returns >= 0 when F returned normally, -1 when an error message was pushed.
template <int (*F)(lua_State*)>
int call_catching(lua_State* L, int& level) {
  try {
    return F(L);
  } catch (const Error& e) {
    level = e.level;
    lua_pushstring(L, e.what());
  } catch (const std::exception& e) {
    level = 1;
    lua_pushstring(L, e.what());
  } catch (...) {
    level = 1;
    lua_pushliteral(L, "unknown C++ exception");
  }
  return -1;
}
}  // namespace detail

template <int (*F)(lua_State*)>
int guarded(lua_State* L) {
  int level = 1;
  int n = detail::call_catching<F>(L, level);
  if (n >= 0) return n;
  if (level > 0) {
    luaL_where(L, level);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

}  // namespace refit::lua
