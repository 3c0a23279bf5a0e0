// refit sim serve: response bodies are nlohmann's JSON, byte for byte, written faster (and list items
// kept between lists).
#include <catch2/catch.hpp>

#include "serve/item_cache.hpp"
#include "serve/json_writer.hpp"

using refit::serve::Json;

namespace {

std::string written(const Json& value) {
  std::string out;
  refit::serve::JsonWriter writer(out);
  writer.value(value);
  return out;
}

}  // namespace

TEST_CASE("values are written exactly as nlohmann dumps them", "[serve][json]") {
  Json value = Json::parse(R"({
    "plain": "text", "quote": "say \"hi\"", "slash": "a\\b", "control": "tab\there\nline\u0001",
    "unicode": "héllo ✓", "del": "\u007f", "empty": "", "int": -42, "big": 18446744073709551615,
    "float": 0.1, "exp": 1e300, "whole": 2.0, "yes": true, "no": false, "none": null,
    "list": [1, "two", [3], {"four": 4}], "nested": {"a": {"b": {}}, "c": []}
  })");
  CHECK(written(value) == value.dump());
  Json invalid_utf8 = std::string("bad \xff byte");
  CHECK(written(invalid_utf8) == invalid_utf8.dump(-1, ' ', false, Json::error_handler_t::replace));
}

TEST_CASE("objects are written at the version asked for, list items without their type", "[serve][json]") {
  Json pdb = Json::parse(R"({"apiVersion":"policy/v1beta1","kind":"PodDisruptionBudget","metadata":{"name":"web"}})");
  CHECK(refit::serve::object_json(pdb, "policy/v1") ==
        R"({"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web"}})");
  CHECK(refit::serve::object_json(pdb, "policy/v1beta1") == pdb.dump());
  CHECK(refit::serve::object_json(pdb, "") == pdb.dump());
  std::string item;
  {
    refit::serve::JsonWriter writer(item);
    writer.object(pdb, "policy/v1", false);
  }
  CHECK(item == R"({"metadata":{"name":"web"}})");
}

TEST_CASE("list items are written once and kept until the object changes", "[serve][json]") {
  refit::serve::ItemCache cache;
  Json object = Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap",
                                "metadata":{"name":"a","uid":"u-1","resourceVersion":"7"},"data":{"k":"v"}})");
  const std::string& first = cache.item(object, "v1", false);
  CHECK(first == R"({"data":{"k":"v"},"metadata":{"name":"a","resourceVersion":"7","uid":"u-1"}})");
  const std::string* address = &first;
  CHECK(&cache.item(object, "v1", false) == address);  // the kept text, not written again

  object["data"]["k"] = "w";  // a write changes the resourceVersion too
  object["metadata"]["resourceVersion"] = "8";
  CHECK(cache.item(object, "v1", false) == R"({"data":{"k":"w"},"metadata":{"name":"a","resourceVersion":"8","uid":"u-1"}})");
  CHECK(cache.item(object, "v1", true) == object.dump());  // asked with its type: written anew

  object["metadata"]["uid"] = "u-2";  // another object at the same address
  object["data"]["k"] = "x";
  CHECK(cache.item(object, "v1", true) == object.dump());
  CHECK(cache.size() == 1);
  cache.forget(object);
  CHECK(cache.size() == 0);
}
