// Test helper: compares two Lua values deeply, as the tests of the JSON-to-Lua converters need.
#pragma once
#include <string>

#include "lua/lua.hpp"

namespace refit::test {

// Where the values at stack indices a and b differ: "" when they do not. Equal means the same type,
// integers apart from floats (and -0.0 from 0.0), strings byte for byte, the same light userdata
// (json.null), and tables with the same metatable (the array marker) and the same keys holding equal
// values. Otherwise "<path>: <this> here, <that> there", e.g. ".spec.taints[2]: integer 1 here,
// float 1.0 there"; the path is left out at the top.
std::string describe_difference(lua_State* L, int a, int b);

}  // namespace refit::test
