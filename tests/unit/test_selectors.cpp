#include <catch2/catch.hpp>

#include "cluster/selectors.hpp"

using nlohmann::json;
using refit::FieldSelector;
using refit::LabelSelector;
using refit::SelectorError;

namespace {

bool labels_match(const char* selector, const json& labels) { return LabelSelector::parse(selector).matches(labels); }

bool fields_match(const char* selector, const json& object) { return FieldSelector::parse(selector).matches(object); }

}  // namespace

TEST_CASE("label selector equality operators", "[selectors]") {
  for (const char* selector : {"app=web", "app==web", " app = web "}) {
    INFO(selector);
    CHECK(labels_match(selector, {{"app", "web"}}));
    CHECK_FALSE(labels_match(selector, {{"app", "db"}}));
    CHECK_FALSE(labels_match(selector, json::object()));
    CHECK_FALSE(labels_match(selector, nullptr));
  }
}

TEST_CASE("label selector != matches objects without the label", "[selectors]") {
  CHECK(labels_match("app!=web", {{"app", "db"}}));
  CHECK(labels_match("app!=web", json::object()));
  CHECK(labels_match("app!=web", nullptr));
  CHECK_FALSE(labels_match("app!=web", {{"app", "web"}}));
}

TEST_CASE("label selector set operators", "[selectors]") {
  CHECK(labels_match("tier in (web, api)", {{"tier", "web"}}));
  CHECK(labels_match("tier in (web,api)", {{"tier", "api"}}));
  CHECK_FALSE(labels_match("tier in (web,api)", {{"tier", "db"}}));
  CHECK_FALSE(labels_match("tier in (web,api)", json::object()));

  CHECK(labels_match("tier notin (db)", {{"tier", "web"}}));
  CHECK(labels_match("tier notin (db)", json::object()));
  CHECK_FALSE(labels_match("tier notin (db)", {{"tier", "db"}}));
}

TEST_CASE("label selector existence operators", "[selectors]") {
  CHECK(labels_match("canary", {{"canary", ""}}));
  CHECK_FALSE(labels_match("canary", {{"app", "web"}}));
  CHECK(labels_match("!canary", {{"app", "web"}}));
  CHECK_FALSE(labels_match("!canary", {{"canary", "true"}}));
}

TEST_CASE("label selector requirements are ANDed", "[selectors]") {
  const char* selector = "app=web,tier in (fe,be),!canary,env!=prod";
  CHECK(labels_match(selector, {{"app", "web"}, {"tier", "fe"}}));
  CHECK(labels_match(selector, {{"app", "web"}, {"tier", "be"}, {"env", "dev"}}));
  CHECK_FALSE(labels_match(selector, {{"app", "web"}, {"tier", "fe"}, {"canary", "1"}}));
  CHECK_FALSE(labels_match(selector, {{"app", "web"}, {"tier", "db"}}));
  CHECK_FALSE(labels_match(selector, {{"app", "web"}, {"tier", "fe"}, {"env", "prod"}}));
  CHECK(LabelSelector::parse(selector).requirements().size() == 4);
}

TEST_CASE("empty label selectors match everything", "[selectors]") {
  CHECK(LabelSelector::parse("").matches_everything());
  CHECK(LabelSelector::parse("   ").matches_everything());
  CHECK(labels_match("", nullptr));
  CHECK(LabelSelector().matches(json::object()));
}

TEST_CASE("label selector edge syntax accepted like Kubernetes", "[selectors]") {
  CHECK(labels_match("app=", {{"app", ""}}));
  CHECK_FALSE(labels_match("app=", {{"app", "x"}}));
  CHECK(labels_match("app.kubernetes.io/name=coredns", {{"app.kubernetes.io/name", "coredns"}}));
  CHECK(labels_match("in=notin", {{"in", "notin"}}));  // keywords are only keywords after a key
  CHECK(labels_match("v=1.2_3-x", {{"v", "1.2_3-x"}}));
}

TEST_CASE("label selector string form reads back", "[selectors]") {
  auto selector = LabelSelector::parse("a=b, c==d,e!=f,g in (x,y),h notin (z),i,!j");
  CHECK(selector.to_string() == "a=b,c=d,e!=f,g in (x,y),h notin (z),i,!j");
  CHECK(LabelSelector::parse(selector.to_string()).to_string() == selector.to_string());
}

TEST_CASE("label selector parse errors say what and where", "[selectors]") {
  auto error_of = [](const char* selector) {
    try {
      LabelSelector::parse(selector);
    } catch (const SelectorError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("a in (x") == R"~(invalid label selector "a in (x", column 8: expected ',' or ')', found end of string)~");
  CHECK(error_of("a in (x y)") == R"~(invalid label selector "a in (x y)", column 9: expected ',' or ')', found "y")~");
  CHECK(error_of("a in ()") == R"~(invalid label selector "a in ()", column 7: 'in' needs at least one value)~");
  CHECK(error_of("a notin (x,)") == R"~(invalid label selector "a notin (x,)", column 12: expected a value, found ')')~");
  CHECK(error_of("a in x") == R"~(invalid label selector "a in x", column 6: expected '(' after 'in', found "x")~");
  CHECK(error_of("a=b c") == R"~(invalid label selector "a=b c", column 5: expected ',' or end of string, found "c")~");
  CHECK(error_of("a b") ==
        R"~(invalid label selector "a b", column 3: expected '=', '==', '!=', 'in', 'notin', ',' or end of string after key "a", found "b")~");
  CHECK(error_of("=b") == R"~(invalid label selector "=b", column 1: expected a label key, found '=')~");
  CHECK(error_of("a,,b") == R"~(invalid label selector "a,,b", column 3: expected a label key, found ',')~");
  CHECK(error_of("a=b,") == R"~(invalid label selector "a=b,", column 5: expected a label key, found end of string)~");
  CHECK(error_of("!") == R"~(invalid label selector "!", column 2: expected a label key, found end of string)~");
  CHECK(error_of("a!=(x)") == R"~(invalid label selector "a!=(x)", column 4: expected a value, found '(')~");
  CHECK(error_of("a/b/c=x") ==
        R"~(invalid label selector "a/b/c=x", column 1: "a/b/c" is not a valid label key (a name of at most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit, optionally after a DNS subdomain prefix and '/'))~");
  CHECK(error_of("a=b@c") ==
        R"~(invalid label selector "a=b@c", column 3: "b@c" is not a valid label value (at most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit))~");
  CHECK(error_of(("a=" + std::string(64, 'x')).c_str()).find("is not a valid label value") != std::string::npos);
  CHECK(error_of("Example.com/a=b").find("is not a valid label key") != std::string::npos);
}

TEST_CASE("label selector from a JSON LabelSelector", "[selectors]") {
  auto selector = LabelSelector::from_json(json::parse(R"({
    "matchLabels": {"app": "web"},
    "matchExpressions": [
      {"key": "tier", "operator": "In", "values": ["fe", "be"]},
      {"key": "env", "operator": "NotIn", "values": ["prod"]},
      {"key": "team", "operator": "Exists"},
      {"key": "canary", "operator": "DoesNotExist", "values": []}
    ]})"));
  CHECK(selector.to_string() == "app=web,tier in (fe,be),env notin (prod),team,!canary");
  CHECK(selector.matches({{"app", "web"}, {"tier", "fe"}, {"team", "a"}}));
  CHECK(selector.matches({{"app", "web"}, {"tier", "be"}, {"team", "a"}, {"env", "dev"}}));
  CHECK_FALSE(selector.matches({{"app", "web"}, {"tier", "fe"}}));                           // no team
  CHECK_FALSE(selector.matches({{"app", "web"}, {"tier", "fe"}, {"team", "a"}, {"env", "prod"}}));
  CHECK_FALSE(selector.matches({{"app", "web"}, {"tier", "fe"}, {"team", "a"}, {"canary", "1"}}));
  CHECK_FALSE(selector.matches({{"app", "db"}, {"tier", "fe"}, {"team", "a"}}));
}

TEST_CASE("JSON label selectors: empty matches everything, null matches nothing", "[selectors]") {
  CHECK(LabelSelector::from_json(json::object()).matches_everything());
  CHECK(LabelSelector::from_json(json::object()).matches({{"a", "b"}}));
  auto nothing = LabelSelector::from_json(nullptr);
  CHECK(nothing.matches_nothing());
  CHECK_FALSE(nothing.matches({{"a", "b"}}));
  CHECK_FALSE(nothing.matches(json::object()));
  CHECK_THROWS_AS(nothing.to_string(), SelectorError);
}

TEST_CASE("JSON label selector errors quote the selector", "[selectors]") {
  CHECK_THROWS_WITH(LabelSelector::from_json(json::parse(R"~({"matchExpressions":[{"key":"a","operator":"Foo"}]})~")),
                    R"~(invalid label selector {"matchExpressions":[{"key":"a","operator":"Foo"}]}: matchExpressions[0].operator must be In, NotIn, Exists or DoesNotExist, got "Foo")~");
  CHECK_THROWS_WITH(LabelSelector::from_json(json::parse(R"~({"matchExpressions":[{"key":"a","operator":"In"}]})~")),
                    R"~(invalid label selector {"matchExpressions":[{"key":"a","operator":"In"}]}: matchExpressions[0]: In needs at least one value)~");
  CHECK_THROWS_WITH(LabelSelector::from_json(json::parse(R"~({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})~")),
                    R"~(invalid label selector {"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]}: matchExpressions[0]: Exists takes no values)~");
  CHECK_THROWS_WITH(LabelSelector::from_json(json::parse(R"~({"matchLabels":{"a":1}})~")),
                    R"~(invalid label selector {"matchLabels":{"a":1}}: matchLabels.a must be a string)~");
  CHECK_THROWS_WITH(LabelSelector::from_json(json::array()), "invalid label selector []: a label selector must be an object");
}

TEST_CASE("field selector operators", "[selectors]") {
  json pod = {{"metadata", {{"name", "web-1"}, {"namespace", "default"}}},
              {"spec", {{"nodeName", "n1"}, {"priority", 10}, {"hostNetwork", true}}},
              {"status", {{"phase", "Running"}}}};
  CHECK(fields_match("metadata.name=web-1", pod));
  CHECK(fields_match("metadata.name==web-1", pod));
  CHECK_FALSE(fields_match("metadata.name!=web-1", pod));
  CHECK(fields_match("status.phase!=Pending", pod));
  CHECK(fields_match("spec.nodeName=n1,status.phase=Running", pod));
  CHECK_FALSE(fields_match("spec.nodeName=n1,status.phase=Pending", pod));
  CHECK(fields_match(" spec.nodeName = n1 ", pod));
  CHECK(fields_match("spec.priority=10", pod));
  CHECK(fields_match("spec.hostNetwork=true", pod));
  CHECK(fields_match("", pod));
}

TEST_CASE("field selector: a missing field is the empty string", "[selectors]") {
  json pending = {{"metadata", {{"name", "p"}}}, {"spec", json::object()}};
  CHECK(fields_match("spec.nodeName=", pending));
  CHECK(fields_match("spec.nodeName!=n1", pending));
  CHECK_FALSE(fields_match("spec.nodeName!=", pending));
  CHECK(fields_match("no.such.path=", pending));
  CHECK(refit::field_value(pending, "metadata.name.deeper").empty());
}

TEST_CASE("field selector escapes and required values", "[selectors]") {
  json object = {{"metadata", {{"name", "a,b=c"}}}};
  CHECK(fields_match(R"(metadata.name=a\,b\=c)", object));
  auto selector = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed,metadata.namespace==kube-system");
  CHECK(selector.required_value("spec.nodeName") == "n1");
  CHECK(selector.required_value("metadata.namespace") == "kube-system");
  CHECK_FALSE(selector.required_value("status.phase"));
  CHECK_FALSE(selector.required_value("metadata.name"));
}

TEST_CASE("field selector parse errors say what and where", "[selectors]") {
  CHECK_THROWS_WITH(FieldSelector::parse("metadata.name"),
                    R"~(invalid field selector "metadata.name", column 1: expected '=', '==' or '!=' in "metadata.name")~");
  CHECK_THROWS_WITH(FieldSelector::parse("=x"), R"~(invalid field selector "=x", column 1: missing field path before the operator)~");
  CHECK_THROWS_WITH(FieldSelector::parse("a=b,,c=d"), R"~(invalid field selector "a=b,,c=d", column 5: empty requirement)~");
  CHECK_THROWS_WITH(FieldSelector::parse("a=b,"), R"~(invalid field selector "a=b,", column 5: empty requirement)~");
  CHECK_THROWS_WITH(FieldSelector::parse("a=b, spec..x=1"),
                    R"~(invalid field selector "a=b, spec..x=1", column 6: "spec..x" is not a field path (dot-separated names, like spec.nodeName))~");
  CHECK_THROWS_WITH(FieldSelector::parse(R"~(a=b\q)~"),
                    R"~(invalid field selector "a=b\q", column 4: invalid escape '\q' (only \\, \, \= and \! are allowed))~");
  CHECK_THROWS_WITH(FieldSelector::parse(R"(a=b\)"), R"~(invalid field selector "a=b\", column 4: '\' at the end of a value escapes nothing)~");
}
