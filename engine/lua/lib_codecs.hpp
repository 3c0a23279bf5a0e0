// The native stdlib modules refit.json and refit.yaml.
#pragma once
#include "lua/vm.hpp"

namespace refit::lua {

// Pushes the module tables.
int open_json(lua_State* L);
int open_yaml(lua_State* L);

// Makes `require "refit.json"` and `require "refit.yaml"` return the native modules.
void preload_codecs(Vm& vm);

}  // namespace refit::lua
