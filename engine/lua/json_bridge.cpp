#include "lua/json_bridge.hpp"

#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace refit::lua {

namespace {

const char* const kArrayMarker = "refit.json.array";

void push_value(lua_State* L, const Json& v, NullMode nulls) {
  switch (v.type()) {
    case Json::value_t::null: push_null(L); break;
    case Json::value_t::boolean: lua_pushboolean(L, v.get<bool>()); break;
    case Json::value_t::number_integer: lua_pushinteger(L, v.get<std::int64_t>()); break;
    case Json::value_t::number_unsigned: {
      auto u = v.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(LUA_MAXINTEGER)) lua_pushinteger(L, static_cast<lua_Integer>(u));
      else lua_pushnumber(L, static_cast<lua_Number>(u));
      break;
    }
    case Json::value_t::number_float: lua_pushnumber(L, v.get<double>()); break;
    case Json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case Json::value_t::array: {
      luaL_checkstack(L, 4, "JSON nesting too deep");
      lua_createtable(L, static_cast<int>(v.size()), 0);
      lua_Integer i = 1;
      for (const auto& item : v) {
        push_value(L, item, nulls);
        lua_rawseti(L, -2, i++);
      }
      push_array_marker(L);
      lua_setmetatable(L, -2);
      break;
    }
    case Json::value_t::object: {
      luaL_checkstack(L, 4, "JSON nesting too deep");
      lua_createtable(L, 0, static_cast<int>(v.size()));
      for (const auto& [key, item] : v.items()) {
        if (nulls == NullMode::Drop && item.is_null()) continue;
        lua_pushlstring(L, key.data(), key.size());
        push_value(L, item, nulls);
        lua_rawset(L, -3);
      }
      break;
    }
    default: lua_pushnil(L); break;  // binary and discarded values do not occur in our documents
  }
}

std::string describe_key(lua_State* L, int index) {
  if (lua_type(L, index) == LUA_TSTRING) return fmt::format(".{}", lua_tostring(L, index));
  if (lua_isinteger(L, index)) return fmt::format("[{}]", lua_tointeger(L, index));
  return fmt::format("[{}]", luaL_typename(L, index));
}

class Encoder {
 public:
  explicit Encoder(lua_State* L) : L_(L) {}

  Json encode(int index) {
    index = lua_absindex(L_, index);
    switch (lua_type(L_, index)) {
      case LUA_TNIL: return nullptr;
      case LUA_TBOOLEAN: return static_cast<bool>(lua_toboolean(L_, index));
      case LUA_TNUMBER:
        if (lua_isinteger(L_, index)) return static_cast<std::int64_t>(lua_tointeger(L_, index));
        {
          double d = lua_tonumber(L_, index);
          if (!std::isfinite(d)) throw std::runtime_error(fmt::format("{}: {} cannot be written as JSON", where(), d));
          return d;
        }
      case LUA_TSTRING: {
        std::size_t len = 0;
        const char* s = lua_tolstring(L_, index, &len);
        return std::string(s, len);
      }
      case LUA_TTABLE: return encode_table(index);
      case LUA_TLIGHTUSERDATA:
        if (is_null(L_, index)) return nullptr;
        [[fallthrough]];
      default:
        throw std::runtime_error(fmt::format("{}: a {} cannot be written as JSON", where(), luaL_typename(L_, index)));
    }
  }

 private:
  // The path to the value being encoded (".spec.containers[1]"), built only for an error message.
  struct PathElement {
    std::string_view key;   // a field name, or empty for a list index
    lua_Integer index = 0;
  };
  std::string where() const {
    std::string out;
    for (const auto& e : path_) out += e.key.empty() ? fmt::format("[{}]", e.index) : "." + std::string(e.key);
    return out.empty() ? "value" : out;
  }

  Json encode_table(int index) {
    const void* id = lua_topointer(L_, index);
    for (const void* seen : stack_)
      if (seen == id) throw std::runtime_error(fmt::format("{}: a table that contains itself cannot be written as JSON", where()));
    stack_.push_back(id);
    luaL_checkstack(L_, 6, "table nesting too deep");

    bool marked = false;
    if (lua_getmetatable(L_, index)) {
      push_array_marker(L_);
      marked = lua_rawequal(L_, -1, -2);
      lua_pop(L_, 2);
    }
    lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L_, index));
    // Only a table with a sequence part can be an array: count its keys to tell a list from a map
    // that also has 1..n. Objects (most tables in Kubernetes documents) are converted in one pass.
    bool only_sequence_keys = false;
    if (n > 0 && !marked) {
      std::size_t count = 0;
      only_sequence_keys = true;
      lua_pushnil(L_);
      while (lua_next(L_, index) != 0) {
        ++count;
        if (!lua_isinteger(L_, -2) || lua_tointeger(L_, -2) < 1 || lua_tointeger(L_, -2) > n) only_sequence_keys = false;
        lua_pop(L_, 1);
      }
      only_sequence_keys = only_sequence_keys && count == static_cast<std::size_t>(n);
    }
    Json out;
    if (marked || only_sequence_keys) {
      out = Json::array();
      for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(L_, index, i);
        path_.push_back({{}, i});
        out.push_back(encode(-1));
        path_.pop_back();
        lua_pop(L_, 1);
      }
    } else {
      out = Json::object();
      lua_pushnil(L_);
      while (lua_next(L_, index) != 0) {
        if (lua_type(L_, -2) != LUA_TSTRING) {
          std::string key = describe_key(L_, -2);
          throw std::runtime_error(fmt::format(
              "{}: a table with both list items and named fields (key {}) cannot be written as JSON", where(), key));
        }
        std::size_t len = 0;
        const char* data = lua_tolstring(L_, -2, &len);
        path_.push_back({std::string_view(data, len), 0});  // the key stays on the stack meanwhile
        Json value = encode(-1);
        path_.pop_back();
        out.emplace(std::string(data, len), std::move(value));
        lua_pop(L_, 1);
      }
    }
    stack_.pop_back();
    return out;
  }

  lua_State* L_;
  std::vector<const void*> stack_;
  std::vector<PathElement> path_;
};

}  // namespace

// Keyed by this variable's address: a light-userdata lookup needs no string hashing, and every
// converted array asks for the marker.
const char kArrayMarkerKey = 0;

void push_array_marker(lua_State* L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrayMarkerKey) != LUA_TNIL) return;
  lua_pop(L, 1);
  luaL_newmetatable(L, kArrayMarker);
  lua_pushliteral(L, "refit.json.array");
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kArrayMarkerKey);
}

// The null sentinel is the light userdata NULL: unique, comparable, and free to create.
void push_null(lua_State* L) { lua_pushlightuserdata(L, nullptr); }
bool is_null(lua_State* L, int index) {
  return lua_type(L, index) == LUA_TLIGHTUSERDATA && lua_touserdata(L, index) == nullptr;
}

void push_json(lua_State* L, const Json& value, NullMode nulls) { push_value(L, value, nulls); }

Json to_json(lua_State* L, int index) { return Encoder(L).encode(index); }

}  // namespace refit::lua
