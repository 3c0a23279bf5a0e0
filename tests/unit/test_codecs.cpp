// JSON <-> Lua values, and YAML <-> JSON with the core schema.
#include <catch2/catch.hpp>

#include "data/yaml.hpp"
#include "lua/json_bridge.hpp"
#include "lua/lib_codecs.hpp"
#include "lua/vm.hpp"

using refit::lua::Vm;
using Json = nlohmann::json;

namespace {

Json round_trip(Vm& vm, const Json& in) {
  refit::lua::push_json(vm.state(), in);
  Json out = refit::lua::to_json(vm.state(), -1);
  lua_pop(vm.state(), 1);
  return out;
}

std::string lua_error_of(Vm& vm, const std::string& code) {
  REQUIRE_FALSE(vm.load_source(code, "t.lua", {".", false}).has_value());
  auto err = vm.pcall(0, 0);
  REQUIRE(err.has_value());
  return err->message;
}

}  // namespace

TEST_CASE("JSON values survive a trip through Lua", "[codecs][json]") {
  Vm vm;
  Json doc = Json::parse(R"({"a": [1, 2.5, "x", true], "empty_list": [], "empty_map": {}, "nested": {"k": [{"n": 1}]},
                              "nothing": null, "big": 9007199254740993})");
  CHECK(round_trip(vm, doc) == doc);
}

TEST_CASE("Lua tables that cannot be JSON are refused with the path", "[codecs][json]") {
  Vm vm;
  refit::lua::preload_codecs(vm);
  CHECK(lua_error_of(vm, "require('refit.json').encode({ spec = { f = print } })") ==
        "t.lua:1: json.encode: .spec.f: a function cannot be written as JSON");
  CHECK(lua_error_of(vm, "local t = {} t.self = t require('refit.json').encode(t)") ==
        "t.lua:1: json.encode: .self: a table that contains itself cannot be written as JSON");
  CHECK(lua_error_of(vm, "require('refit.json').encode({ 1, 2, x = 3 })").find("both list items and named fields") !=
        std::string::npos);
}

TEST_CASE("json.decode returns nil and a message for bad input", "[codecs][json]") {
  Vm vm;
  refit::lua::preload_codecs(vm);
  REQUIRE_FALSE(vm.load_source("local v, err = require('refit.json').decode('{\"a\": }') return err", "t.lua", {".", false}));
  REQUIRE_FALSE(vm.pcall(0, 1).has_value());
  std::string err = lua_tostring(vm.state(), -1);
  CHECK(err.rfind("invalid JSON at byte 7", 0) == 0);
}

TEST_CASE("YAML plain scalars follow the core schema; quoted ones stay strings", "[codecs][yaml]") {
  Json doc = refit::data::parse_yaml("a: 3\nb: 1.20\nc: \"1.20\"\nd: true\ne: ~\nf: hello\ng: '42'\nh: 0x1f\n");
  CHECK(doc["a"] == 3);
  CHECK(doc["b"] == 1.2);
  CHECK(doc["c"] == "1.20");
  CHECK(doc["d"] == true);
  CHECK(doc["e"].is_null());
  CHECK(doc["f"] == "hello");
  CHECK(doc["g"] == "42");
  CHECK(doc["h"] == 31);
}

TEST_CASE("YAML errors carry line and column", "[codecs][yaml]") {
  try {
    refit::data::parse_yaml("a: 1\nb: [1, 2\n");
    FAIL("expected an error");
  } catch (const refit::data::YamlError& e) {
    CHECK(e.line == 3);
  }
}

TEST_CASE("YAML documents round-trip, quoting strings that would change type", "[codecs][yaml]") {
  Json doc = Json::parse(R"({"version": "1.20", "flag": "true", "n": 3, "list": ["a", "b"], "empty": [], "name": "x: y"})");
  std::string text = refit::data::to_yaml(doc);
  CHECK(refit::data::parse_yaml(text) == doc);
  CHECK(text.find("version: \"1.20\"") != std::string::npos);
  auto docs = refit::data::parse_yaml_documents("a: 1\n---\nb: 2\n---\n");
  CHECK(docs.size() == 2);
}
