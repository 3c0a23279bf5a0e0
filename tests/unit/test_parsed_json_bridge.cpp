// The Lua values made from simdjson's parse (lua/parsed_json_bridge.hpp) are the ones push_json made
// from nlohmann's parse of the same text: the same keys, types (integer or float), arrays marked as
// arrays, empty tables, strings byte for byte, and nulls kept or dropped alike.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include <fmt/format.h>
#include <simdjson.h>

#include "lua/json_bridge.hpp"
#include "lua/parsed_json_bridge.hpp"
#include "lua/vm.hpp"
#include "lua_compare.hpp"

using refit::lua::NullMode;
using refit::lua::ParsedJsonPusher;
using refit::lua::Vm;
using Json = nlohmann::json;

namespace {

// Pushes `text` both ways; returns where the two values differ ("" when they do not).
std::string compare_conversions(lua_State* L, const std::string& text, NullMode nulls) {
  const int top = lua_gettop(L);
  refit::lua::push_json(L, Json::parse(text), nulls);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
  ParsedJsonPusher pusher(L, nulls);
  pusher.push(doc);
  pusher.close();
  REQUIRE(lua_gettop(L) == top + 2);  // the cache is gone, the value stays
  std::string difference = refit::test::describe_difference(L, top + 1, top + 2);
  lua_settop(L, top);
  return difference;
}

void check_both_modes(lua_State* L, const std::string& text) {
  INFO(text);
  CHECK(compare_conversions(L, text, NullMode::Sentinel) == "");
  CHECK(compare_conversions(L, text, NullMode::Drop) == "");
}

}  // namespace

TEST_CASE("parsed JSON: strings with escapes, unicode and surrogate pairs", "[lua][parsed-json]") {
  Vm vm;
  check_both_modes(vm.state(), R"({"escaped": "caf\u00e9 \u4e2d\u6587 \ud83d\ude00 \ud834\udd1e",
                                   "raw": "café 中文 😀 𝄞", "controls": "\"\\\/\b\f\n\r\t\u0001\u001f",
                                   "nul": "a\u0000b", "empty": "", "\u00e9t\u00e9": "key escaped",
                                   "long": "a string of more than sixty-four bytes, which is made without the cache",
                                   "forty": "exactly forty-one bytes: Lua's long str"})");
  check_both_modes(vm.state(), R"("\ud83d\ude00")");
}

TEST_CASE("parsed JSON: integers stay integers, floats floats, and big integers become floats", "[lua][parsed-json]") {
  Vm vm;
  check_both_modes(vm.state(), R"({"zero": 0, "minus_zero": -0, "minus_zero_float": -0.0, "one_float": 1.0,
                                   "max": 9223372036854775807, "min": -9223372036854775808,
                                   "past_max": 9223372036854775808, "uint_max": 18446744073709551615,
                                   "exponent": 1e3, "upper_exponent": 2.5E-3, "integer_exponent": 1E2,
                                   "smallest": 5e-324, "hard": 2.2250738585072011e-308, "tenth": 0.1,
                                   "above_2_53": 9007199254740993, "negative": -42, "fraction": -1.5,
                                   "underflow": 1.5e-400, "big_float": 1.7976931348623157e308})");
  // Integers beyond 64 bits: simdjson refuses them (the page goes the nlohmann way, tested with lists).
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  CHECK(parser.parse(std::string("[18446744073709551616]")).get(doc) != simdjson::SUCCESS);
  CHECK(parser.parse(std::string("[-9223372036854775809]")).get(doc) != simdjson::SUCCESS);

  SECTION("the types, not only the values, are the same") {
    lua_State* L = vm.state();
    simdjson::dom::element numbers;
    REQUIRE(parser.parse(std::string(R"([7, 7.0, 9223372036854775808])")).get(numbers) == simdjson::SUCCESS);
    ParsedJsonPusher pusher(L, NullMode::Drop);
    pusher.push(numbers);
    pusher.close();
    lua_rawgeti(L, -1, 1);
    CHECK(lua_isinteger(L, -1));
    CHECK(lua_tointeger(L, -1) == 7);
    lua_rawgeti(L, -2, 2);
    CHECK_FALSE(lua_isinteger(L, -1));
    CHECK(lua_tonumber(L, -1) == 7.0);
    lua_rawgeti(L, -3, 3);
    CHECK_FALSE(lua_isinteger(L, -1));
    CHECK(lua_tonumber(L, -1) == 9223372036854775808.0);
    lua_pop(L, 4);
  }
}

TEST_CASE("parsed JSON: empty and nested arrays and objects, and nulls kept or dropped", "[lua][parsed-json]") {
  Vm vm;
  check_both_modes(vm.state(), R"({"list": [], "map": {}, "lists": [[], [{}], [[]], [[[]]]], "maps": {"a": {"b": {}}},
                                   "mixed": [1, "two", true, false, null, {"k": null}, [null], {}],
                                   "null": null, "inner": {"null": null, "value": 1}, "nulls": [null, null]})");
  check_both_modes(vm.state(), "[]");
  check_both_modes(vm.state(), "{}");
  check_both_modes(vm.state(), "[[], {}, [{}]]");
  for (const char* scalar : {"null", "true", "false", "\"text\"", "42", "-7", "3.25"}) {
    check_both_modes(vm.state(), scalar);
  }

  SECTION("Drop leaves out object members that are null, not array items") {
    lua_State* L = vm.state();
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(std::string(R"({"gone": null, "list": [null]})")).get(doc) == simdjson::SUCCESS);
    ParsedJsonPusher pusher(L, NullMode::Drop);
    pusher.push(doc);
    pusher.close();
    CHECK(lua_getfield(L, -1, "gone") == LUA_TNIL);
    lua_getfield(L, -2, "list");
    CHECK(lua_rawlen(L, -1) == 1);
    lua_rawgeti(L, -1, 1);
    CHECK(refit::lua::is_null(L, -1));
    lua_pop(L, 4);
  }
}

TEST_CASE("parsed JSON: duplicate keys keep the last value, as nlohmann does", "[lua][parsed-json]") {
  Vm vm;
  check_both_modes(vm.state(), R"({"a": 1, "a": 2})");
  check_both_modes(vm.state(), R"({"a": 1, "a": null})");
  check_both_modes(vm.state(), R"({"a": null, "a": 3})");
  check_both_modes(vm.state(), R"({"a": {"x": 1}, "b": 0, "a": []})");
}

TEST_CASE("parsed JSON: more distinct strings than the cache holds", "[lua][parsed-json]") {
  // 10,000 distinct keys and values, each twice and among repeated ones: slots are taken over again
  // and again, and strings that share a slot must never be mistaken for each other.
  Json doc = Json::object();
  Json list = Json::array();
  for (int i = 0; i < 10'000; ++i) {
    std::string key = fmt::format("key-{}", i);
    doc[key] = {{"name", key}, {"same", "repeated value"}, {"long", std::string(50, static_cast<char>('a' + i % 26))}};
    list.push_back(key);
  }
  doc["list"] = list;
  Vm vm;
  check_both_modes(vm.state(), doc.dump());
}

TEST_CASE("parsed JSON: a list item gets the list's apiVersion and kind, replacing its own", "[lua][parsed-json]") {
  Vm vm;
  lua_State* L = vm.state();
  const std::string node = R"({"metadata": {"name": "n1", "labels": {"zone": "a"}}, "spec": {"taints": []},
                               "status": {"conditions": [{"type": "Ready", "status": "True"}]}})";
  const std::string widget = R"({"apiVersion": "example.com/v1beta1", "kind": "Old", "metadata": {"name": "w"}})";
  for (const std::string& text : {node, widget}) {
    INFO(text);
    Json item = Json::parse(text);
    item["apiVersion"] = "example.com/v1";
    item["kind"] = "Widget";
    refit::lua::push_json(L, item, NullMode::Drop);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
    ParsedJsonPusher pusher(L, NullMode::Drop);
    pusher.push_item(doc, "example.com/v1", "Widget");
    pusher.close();
    CHECK(refit::test::describe_difference(L, -2, -1) == "");
    lua_pop(L, 2);
  }
}

TEST_CASE("parsed JSON: the comparison itself finds differences", "[lua][parsed-json]") {
  // describe_difference is what the tests above rely on: it must see each kind of difference.
  Vm vm;
  lua_State* L = vm.state();
  auto differ = [&](const char* a, const char* b) {
    refit::lua::push_json(L, Json::parse(a));
    refit::lua::push_json(L, Json::parse(b));
    std::string difference = refit::test::describe_difference(L, -2, -1);
    lua_pop(L, 2);
    return difference;
  };
  CHECK(differ(R"({"a": 1})", R"({"a": 1})") == "");
  CHECK(differ(R"({"a": 1})", R"({"a": 1.0})") == ".a: integer 1 here, float 1.0 there");
  CHECK(differ(R"({"a": 1})", R"({"a": 2})") == ".a: 1 here, 2 there");
  CHECK(differ(R"({"a": []})", R"({"a": {}})") == ".a: an array here, a map there");
  CHECK(differ(R"({"a": "x"})", R"({"a": "y"})") == ".a: \"x\" here, \"y\" there");
  CHECK(differ(R"({"a": 1, "b": 2})", R"({"a": 1})") == ".b: number here, nil there");
  CHECK(differ(R"({"a": 1})", R"({"a": 1, "b": 2})") == "2 keys there, 1 here");
  CHECK(differ(R"([null])", R"([false])") == "[1]: userdata here, boolean there");
  CHECK(differ(R"([-0.0])", R"([0.0])") == "[1]: -0.0 here, 0.0 there");
}
