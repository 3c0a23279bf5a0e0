// Converts between Lua values and JSON documents (nlohmann::json).
//
// Lua -> JSON: tables carrying the array marker (refit.json.array) or whose keys are exactly 1..n
// (n > 0) become arrays; other tables objects (string keys only); an empty unmarked table is {}.
// JSON -> Lua: arrays get the array marker so they round-trip, even when empty.
// json.null (a light userdata) stands for null where a null must survive (merge patches).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "lua/lua.hpp"

namespace refit::lua {

using Json = nlohmann::json;

enum class NullMode { Sentinel, Drop };  // Drop: object members that are null are left out

// Pushes `value`. Raises no Lua error except on memory exhaustion.
void push_json(lua_State* L, const Json& value, NullMode nulls = NullMode::Sentinel);

// Reads the value at `index`. Throws std::runtime_error naming the path (".spec.containers[1]")
// for functions, userdata, cycles, mixed tables, or NaN.
Json to_json(lua_State* L, int index);

// The array marker metatable and the null sentinel, created on first use.
void push_array_marker(lua_State* L);
void push_null(lua_State* L);
bool is_null(lua_State* L, int index);

}  // namespace refit::lua
