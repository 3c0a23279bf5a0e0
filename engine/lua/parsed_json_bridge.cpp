#include "lua/parsed_json_bridge.hpp"

#include <cstdint>
#include <cstring>

#include <simdjson.h>

namespace refit::lua {

namespace dom = simdjson::dom;

struct ParsedJsonPusher::Slot {
  const char* data;  // the cached Lua string's bytes (alive while its stack slot holds the string)
  std::uint64_t hash;
  std::size_t size;
};

namespace {

// A direct-mapped cache: a string that maps to a taken slot replaces the one there. 4,096 slots hold
// the field names and repeated values of any Kubernetes kind with room to spare; the unique strings
// of each object (its name, uid, addresses) pass through a few slots each.
constexpr int kSlotBits = 12;
constexpr std::size_t kSlots = std::size_t{1} << kSlotBits;
// Longer strings are not interned by Lua (LUAI_MAXSHORTLEN is 40), so making them costs a copy but
// no lookup; the cache still shares the repeated ones up to this size (condition messages).
constexpr std::size_t kLongestCached = 64;

std::uint64_t load8(const char* p) {
  std::uint64_t word;
  std::memcpy(&word, p, 8);
  return word;
}

std::uint32_t load4(const char* p) {
  std::uint32_t word;
  std::memcpy(&word, p, 4);
  return word;
}

// Eight bytes at a time (Lua's own hash takes every byte in turn): most strings here are 5 to 40
// bytes. The last bytes are read as one or two overlapping words, not byte by byte.
std::uint64_t hash_bytes(const char* p, std::size_t n) {
  std::uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  const char* end = p + n;
  if (n >= 8) {
    for (; end - p > 8; p += 8) h = ((h ^ load8(p)) * 0xBF58476D1CE4E5B9ull) ^ (h >> 29);
    h ^= load8(end - 8);  // the last eight bytes, overlapping the loop's when n is not a multiple of 8
  } else if (n >= 4) {
    h ^= (static_cast<std::uint64_t>(load4(p)) << 32) | load4(end - 4);
  } else if (n > 0) {
    h ^= (static_cast<std::uint64_t>(static_cast<unsigned char>(p[0])) << 16) |
         (static_cast<std::uint64_t>(static_cast<unsigned char>(p[n / 2])) << 8) | static_cast<unsigned char>(p[n - 1]);
  }
  return h * 0x94D049BB133111EBull;  // the slot is taken from the top bits, which every input bit reaches
}

// Whether a cached string's bytes equal `text`, of the same size (at most kLongestCached), compared
// a word at a time: the cache compares on every hit, so a call to memcmp would cost more than it does.
bool same_bytes(const char* cached, std::string_view text) {
  const char* p = text.data();
  const std::size_t n = text.size();
  if (n >= 8) {
    std::size_t i = 0;
    for (; i + 8 < n; i += 8) {
      if (load8(cached + i) != load8(p + i)) return false;
    }
    return load8(cached + n - 8) == load8(p + n - 8);
  }
  if (n >= 4) return load4(cached) == load4(p) && load4(cached + n - 4) == load4(p + n - 4);
  for (std::size_t i = 0; i < n; ++i) {
    if (cached[i] != p[i]) return false;
  }
  return true;
}

}  // namespace

ParsedJsonPusher::ParsedJsonPusher(lua_State* L, NullMode nulls) : L_(L), nulls_(nulls), base_(0), slots_(nullptr) {}

// The cache's strings are kept in stack slots, not in a table: pushing one is a copy between slots,
// cheaper than a table read (the cache is read about a million times for 10,000 Nodes).
void ParsedJsonPusher::open() {
  luaL_checkstack(L_, static_cast<int>(kSlots) + 8, "no room on the Lua stack for a list's strings");
  base_ = lua_gettop(L_) + 1;
  slots_ = static_cast<Slot*>(lua_newuserdatauv(L_, sizeof(Slot) * kSlots, 0));
  std::memset(static_cast<void*>(slots_), 0, sizeof(Slot) * kSlots);
  push_array_marker(L_);
  lua_settop(L_, base_ + 1 + static_cast<int>(kSlots));  // the strings' slots, nil for now
}

void ParsedJsonPusher::close() {
  if (base_ == 0) return;
  const int cache = 2 + static_cast<int>(kSlots);
  lua_rotate(L_, base_, -cache);  // the cache to the top, values pushed after it down in its place
  lua_pop(L_, cache);
  base_ = 0;
  slots_ = nullptr;
}

void ParsedJsonPusher::push(const dom::element& value) {
  if (base_ == 0) open();
  push_value(value);
}

void ParsedJsonPusher::push_item(const dom::element& object, std::string_view api_version, std::string_view kind) {
  if (base_ == 0) open();
  push_object(object, 2);
  push_string("apiVersion");
  push_string(api_version);
  lua_rawset(L_, -3);
  push_string("kind");
  push_string(kind);
  lua_rawset(L_, -3);
}

void ParsedJsonPusher::push_string(std::string_view text) {
  if (text.size() > kLongestCached) {
    lua_pushlstring(L_, text.data(), text.size());
    return;
  }
  const std::uint64_t hash = hash_bytes(text.data(), text.size());
  const std::size_t index = hash >> (64 - kSlotBits);
  const Slot& slot = slots_[index];
  if (slot.data != nullptr && slot.hash == hash && slot.size == text.size() && same_bytes(slot.data, text)) {
    lua_pushvalue(L_, string_slot(index));
    return;
  }
  push_new_string(text, hash, index);
}

// Out of line: push_string's common path (a cached string) then saves and restores fewer registers.
[[gnu::noinline]] void ParsedJsonPusher::push_new_string(std::string_view text, std::uint64_t hash, std::size_t index) {
  const char* data = lua_pushlstring(L_, text.data(), text.size());
  lua_copy(L_, -1, string_slot(index));
  slots_[index] = Slot{data, hash, text.size()};
}

void ParsedJsonPusher::push_object(const dom::element& value, int extra_fields) {
  luaL_checkstack(L_, 4, "JSON nesting too deep");
  dom::object object = value.get_object().value_unsafe();
  lua_createtable(L_, 0, static_cast<int>(object.size()) + extra_fields);
  for (dom::key_value_pair field : object) {
    push_string(field.key);
    // A dropped null is set as nil: nlohmann keeps the last of duplicate keys, so an earlier value of
    // the key must go too (and setting an absent key to nil adds nothing).
    if (nulls_ == NullMode::Drop && field.value.is_null()) lua_pushnil(L_);
    else push_value(field.value);
    lua_rawset(L_, -3);
  }
}

void ParsedJsonPusher::push_value(const dom::element& value) {
  switch (value.type()) {
    case dom::element_type::OBJECT: push_object(value, 0); break;
    case dom::element_type::ARRAY: {
      luaL_checkstack(L_, 4, "JSON nesting too deep");
      dom::array array = value.get_array().value_unsafe();
      lua_createtable(L_, static_cast<int>(array.size()), 0);
      lua_Integer i = 1;
      for (dom::element item : array) {
        push_value(item);
        lua_rawseti(L_, -2, i++);
      }
      lua_pushvalue(L_, base_ + 1);
      lua_setmetatable(L_, -2);
      break;
    }
    case dom::element_type::STRING: push_string(value.get_string().value_unsafe()); break;
    case dom::element_type::INT64: lua_pushinteger(L_, value.get_int64().value_unsafe()); break;
    case dom::element_type::UINT64: {
      // simdjson makes a UINT64 only of what exceeds INT64_MAX, which nlohmann reads as unsigned.
      std::uint64_t u = value.get_uint64().value_unsafe();
      if (u <= static_cast<std::uint64_t>(LUA_MAXINTEGER)) lua_pushinteger(L_, static_cast<lua_Integer>(u));
      else lua_pushnumber(L_, static_cast<lua_Number>(u));
      break;
    }
    case dom::element_type::DOUBLE: lua_pushnumber(L_, value.get_double().value_unsafe()); break;
    case dom::element_type::BOOL: lua_pushboolean(L_, value.get_bool().value_unsafe()); break;
    case dom::element_type::NULL_VALUE: push_null(L_); break;
  }
}

}  // namespace refit::lua
