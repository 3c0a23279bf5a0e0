// refit sim serve: request bodies in the Kubernetes protobuf encoding (what kubectl 1.32's create
// commands send), built here field by field as client-go encodes them, read into the API's JSON.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "serve/protobuf_body.hpp"
#include "serve/status.hpp"

using refit::serve::decode_protobuf_body;
using refit::serve::Json;
using refit::serve::StatusError;

namespace {

std::string varint(std::uint64_t value) {
  std::string out;
  do {
    unsigned char byte = value & 0x7f;
    value >>= 7;
    out.push_back(static_cast<char>(value != 0 ? byte | 0x80 : byte));
  } while (value != 0);
  return out;
}

// A length-delimited field (strings, bytes, messages, map entries).
std::string field(int number, const std::string& bytes) {
  return varint(static_cast<std::uint64_t>(number) << 3 | 2) + varint(bytes.size()) + bytes;
}
std::string number_field(int number, std::uint64_t value) {
  return varint(static_cast<std::uint64_t>(number) << 3) + varint(value);
}
std::string entry(int number, const std::string& key, const std::string& value) {
  return field(number, field(1, key) + field(2, value));
}

// "k8s\0" and a runtime.Unknown {typeMeta, raw, contentEncoding, contentType}, as client-go writes it.
std::string envelope(const std::string& api_version, const std::string& kind, const std::string& raw) {
  return std::string("k8s\0", 4) + field(1, field(1, api_version) + field(2, kind)) + field(2, raw) + field(3, "") +
         field(4, "");
}

// ObjectMeta as Go's generated code writes it: every plain field, empty or not; an empty Time.
std::string metadata(const std::string& name, const std::string& ns) {
  return field(1, name) + field(2, "") + field(3, ns) + field(4, "") + field(5, "") + field(6, "") +
         number_field(7, 0) + field(8, "") + entry(11, "app", "shop") + field(14, "refit.dev/keep");
}

StatusError status_error_of(const std::string& body, const std::string& kind) {
  try {
    decode_protobuf_body(body, kind);
  } catch (const StatusError& e) {
    return e;
  }
  FAIL("no StatusError");
  throw;
}

}  // namespace

TEST_CASE("protobuf: a Secret as kubectl create secret generic sends it", "[serve][protobuf]") {
  std::string raw = field(1, metadata("db-creds", "shop")) + entry(2, "password", std::string("s3\xff\0t", 5)) +
                    entry(2, "user", "admin") + field(3, "Opaque") + number_field(5, 1);
  CHECK(decode_protobuf_body(envelope("v1", "Secret", raw), "Secret") ==
        Json::parse(R"({"apiVersion":"v1","kind":"Secret",
                        "metadata":{"name":"db-creds","namespace":"shop","labels":{"app":"shop"},
                                    "finalizers":["refit.dev/keep"]},
                        "data":{"password":"czP/AHQ=","user":"YWRtaW4="},"type":"Opaque","immutable":true})"));
}

TEST_CASE("protobuf: ConfigMaps, Namespaces and ServiceAccounts; times; fields it does not know", "[serve][protobuf]") {
  std::string created = field(8, number_field(1, 1767225600) + number_field(2, 0));  // 2026-01-01T00:00:00Z
  std::string configmap = field(1, field(1, "settings") + created) + entry(2, "mode", "blue") +
                          entry(3, "blob", "\x01") + field(99, "a later field") + number_field(98, 7);
  CHECK(decode_protobuf_body(envelope("v1", "ConfigMap", configmap), "ConfigMap") ==
        Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap",
                        "metadata":{"name":"settings","creationTimestamp":"2026-01-01T00:00:00Z"},
                        "data":{"mode":"blue"},"binaryData":{"blob":"AQ=="}})"));

  std::string ns = field(1, field(1, "team-a")) + field(2, field(1, "kubernetes")) + field(3, "");
  CHECK(decode_protobuf_body(envelope("v1", "Namespace", ns), "Namespace") ==
        Json::parse(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"},
                        "spec":{"finalizers":["kubernetes"]}})"));

  std::string sa = field(1, field(1, "builder") + field(3, "ci")) + field(3, field(1, "registry")) + number_field(4, 0);
  CHECK(decode_protobuf_body(envelope("v1", "ServiceAccount", sa), "ServiceAccount") ==
        Json::parse(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"builder","namespace":"ci"},
                        "imagePullSecrets":[{"name":"registry"}],"automountServiceAccountToken":false})"));
}

TEST_CASE("protobuf: RBAC, PriorityClasses and PodDisruptionBudgets", "[serve][protobuf]") {
  std::string rule = field(1, "get") + field(1, "list") + field(2, "apps") + field(3, "deployments");
  std::string role = field(1, field(1, "reader") + field(3, "shop")) + field(2, rule);
  CHECK(decode_protobuf_body(envelope("rbac.authorization.k8s.io/v1", "Role", role), "Role") ==
        Json::parse(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role",
                        "metadata":{"name":"reader","namespace":"shop"},
                        "rules":[{"verbs":["get","list"],"apiGroups":["apps"],"resources":["deployments"]}]})"));

  std::string selects = entry(1, "rbac.example.com/agg", "true");  // a LabelSelector
  std::string aggregated = field(1, field(1, "aggregate")) + field(3, field(1, selects));
  CHECK(decode_protobuf_body(envelope("rbac.authorization.k8s.io/v1", "ClusterRole", aggregated), "ClusterRole") ==
        Json::parse(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",
                        "metadata":{"name":"aggregate"},
                        "aggregationRule":{"clusterRoleSelectors":[
                          {"matchLabels":{"rbac.example.com/agg":"true"}}]}})"));

  // Subject and RoleRef fields have no omitempty: an empty apiGroup is kept in the roleRef.
  std::string binding = field(1, field(1, "readers")) + field(2, field(1, "User") + field(3, "alice")) +
                        field(3, field(1, "") + field(2, "ClusterRole") + field(3, "view"));
  CHECK(decode_protobuf_body(envelope("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", binding),
                             "ClusterRoleBinding") ==
        Json::parse(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
                        "metadata":{"name":"readers"},"subjects":[{"kind":"User","name":"alice"}],
                        "roleRef":{"apiGroup":"","kind":"ClusterRole","name":"view"}})"));

  // value has no omitempty (0 is a priority); globalDefault has (false is left out).
  std::string priority = field(1, field(1, "batch")) + number_field(2, 0) + number_field(3, 0) + field(4, "");
  CHECK(decode_protobuf_body(envelope("scheduling.k8s.io/v1", "PriorityClass", priority), "PriorityClass") ==
        Json::parse(R"({"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"batch"},
                        "value":0})"));

  // IntOrString: type 0 is the number (intVal), type 1 the string (strVal).
  std::string requirement = field(1, "tier") + field(2, "In") + field(3, "a") + field(3, "b");
  std::string selector = entry(1, "app", "web") + field(2, requirement);
  std::string spec = field(1, number_field(1, 0) + number_field(2, 1) + field(3, "")) + field(2, selector) +
                     field(3, number_field(1, 1) + number_field(2, 0) + field(3, "30%"));
  std::string budget = field(1, field(1, "web")) + field(2, spec);
  CHECK(decode_protobuf_body(envelope("policy/v1", "PodDisruptionBudget", budget), "PodDisruptionBudget") ==
        Json::parse(R"({"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web"},
                        "spec":{"minAvailable":1,"maxUnavailable":"30%",
                                "selector":{"matchLabels":{"app":"web"},"matchExpressions":[
                                  {"key":"tier","operator":"In","values":["a","b"]}]}}})"));
}

TEST_CASE("protobuf: a kind it has no layout for is 415, naming the kinds it reads; so is a subresource",
          "[serve][protobuf]") {
  StatusError e = status_error_of(envelope("apps/v1", "Deployment", field(1, field(1, "web"))), "Deployment");
  CHECK(e.code == 415);
  CHECK(e.reason == "UnsupportedMediaType");
  CHECK(std::string(e.what()) ==
        "the body of the request was in an unknown format - accepted media types include: application/json, "
        "application/yaml (refit sim serve reads application/vnd.kubernetes.protobuf bodies only of ClusterRole, "
        "ClusterRoleBinding, ConfigMap, Namespace, PodDisruptionBudget, PriorityClass, Role, RoleBinding, Secret and "
        "ServiceAccount: send this Deployment as JSON)");
  try {
    std::string budget = envelope("policy/v1", "PodDisruptionBudget", field(1, field(1, "web")));
    decode_protobuf_body(budget, "PodDisruptionBudget", "status");
    FAIL("no StatusError");
  } catch (const StatusError& error) {
    CHECK(error.code == 415);
    CHECK(std::string(error.what()) ==
          "the body of the request was in an unknown format - accepted media types include: application/json, "
          "application/yaml (refit sim serve reads application/vnd.kubernetes.protobuf bodies only for whole objects: "
          "send the status of this PodDisruptionBudget as JSON)");
  }
}

TEST_CASE("protobuf: bytes that are not such a body are 400, saying where", "[serve][protobuf]") {
  auto message = [](const std::string& body) {
    StatusError e = status_error_of(body, "Secret");
    CHECK(e.code == 400);
    return std::string(e.what());
  };
  CHECK(message("{\"kind\":\"Secret\"}") ==
        "the request body is not a valid Secret (runtime.Unknown) in protobuf: it does not start with the 4 bytes "
        "\"k8s\\0\" (at byte 0)");
  CHECK(message(std::string("k8s\0", 4) + "\x12\x05" + "ab") ==
        "the request body is not a valid Secret (runtime.Unknown) in protobuf: a field is longer than what is left of "
        "the body (at byte 6)");
  CHECK(message(std::string("k8s\0", 4) + field(1, field(2, "Secret"))) ==
        "the request body is not a valid Secret (runtime.Unknown) in protobuf: it holds no object "
        "(runtime.Unknown.raw) (at byte 14)");
  // A wire type the field cannot have (metadata.name as a number): the position is in the whole body.
  std::string raw = field(1, number_field(1, 5));
  CHECK(message(envelope("v1", "Secret", raw)) ==
        "the request body is not a valid Secret in protobuf: field 1 (name) has wire type 0, not 2 (at byte 23)");
  CHECK(message(envelope("v1", "Secret", field(3, "\xc3\x28"))) ==
        "the request body is not a valid Secret in protobuf: type is not UTF-8 text (at byte 24)");
}
