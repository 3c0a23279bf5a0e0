// The Lua 5.4 C API. refit links the C build of Lua (longjmp errors), so every lua_CFunction that
// holds C++ objects goes through lua/guard.hpp, which converts exceptions into Lua errors only after
// the C++ destructors have run.
#pragma once
extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
}
