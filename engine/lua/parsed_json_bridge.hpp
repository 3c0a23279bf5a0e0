// Converts JSON parsed by simdjson (the pages of lists from real clusters) straight into Lua values:
// the same values push_json (json_bridge.hpp) makes of the same document after nlohmann parsed it
// (arrays marked, integers as integers, numbers beyond Lua's integers as floats, null as json.null or
// dropped from objects), without the nlohmann tree in between. For a list of 10,000 Nodes that tree
// was most of the list's time: built for one walk, then freed.
//
// Most strings of a list repeat (field names, "True", timestamps, label values), and creating a Lua
// string hashes it and looks it up in the state's string table: the converter keeps the strings it
// made in a small cache, found by a cheaper hash, and pushes a cached one again instead.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lua/json_bridge.hpp"
#include "lua/lua.hpp"

namespace simdjson::dom { class element; }

namespace refit::lua {

// One batch of conversions (one list). Its string cache lives on the Lua stack (its index in a
// userdata, the array marker, and a slot for each cached string), pushed by the first push (not
// before: the simulated world's lists, whose items are Json values, never pay for it) and popped by
// close(), so that a Lua error (out of memory) leaks nothing. Values pushed meanwhile are consumed
// (stored into a table below the cache) or stay above it; close() moves them down.
class ParsedJsonPusher {
 public:
  ParsedJsonPusher(lua_State* L, NullMode nulls);
  ParsedJsonPusher(const ParsedJsonPusher&) = delete;
  ParsedJsonPusher& operator=(const ParsedJsonPusher&) = delete;

  // Pushes `value` as push_json would push nlohmann's parse of the same text.
  void push(const simdjson::dom::element& value);
  // Pushes an object of a list with apiVersion and kind set (replacing any it has), as the Json
  // path sets them on the item before converting it.
  void push_item(const simdjson::dom::element& object, std::string_view api_version, std::string_view kind);
  // Pops the cache, if the pusher made one.
  void close();

  struct Slot;  // a cached string: where its bytes are, and their hash

 private:
  void open();
  void push_value(const simdjson::dom::element& value);
  void push_object(const simdjson::dom::element& object, int extra_fields);
  void push_string(std::string_view text);
  void push_new_string(std::string_view text, std::uint64_t hash, std::size_t index);
  int string_slot(std::size_t index) const { return base_ + 2 + static_cast<int>(index); }

  lua_State* L_;
  NullMode nulls_;
  int base_;      // the stack index of the cache's first value (the slots' userdata), 0 before the first push
  Slot* slots_;   // the cache's index, in that userdata
};

}  // namespace refit::lua
