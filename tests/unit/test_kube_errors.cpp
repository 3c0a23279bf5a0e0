// The API server's refusals as refit tells them: the simulated cluster's words for 404/409/422, the
// server's for 403 and evictions, what to check for 401, and nothing of a Secret's data.
#include <catch2/catch.hpp>

#include "cluster/kube/api_errors.hpp"
#include "kube_fake_server.hpp"

using refit::kube::decode_api_error;
using refit::kube::HttpResponse;
using refit::kube::RequestSubject;
using refit::test::Json;
using refit::test::status_body;

namespace {

const std::string kWhere = "context \"prod\" (https://10.0.0.1:6443)";

RequestSubject coredns(const std::string& verb) {
  return RequestSubject{verb, "Deployment", "kube-system", "coredns", "deployments.apps", ""};
}

HttpResponse response(long status, std::string body) { return HttpResponse{status, std::move(body), std::nullopt}; }

}  // namespace

TEST_CASE("kube errors: 404 in the simulated cluster's words", "[kube][kube-errors]") {
  auto body = status_body(404, "NotFound", "deployments.apps \"coredns\" not found",
                          {{"name", "coredns"}, {"group", "apps"}, {"kind", "deployments"}});
  auto error = decode_api_error(response(404, body), coredns("patch"), kWhere);
  CHECK(error.status == 404);
  CHECK(error.reason == "NotFound");
  CHECK(std::string(error.what()) == "Deployment kube-system/coredns not found");

  RequestSubject node{"get", "Node", "", "worker-1", "nodes", ""};
  CHECK(std::string(decode_api_error(response(404, ""), node, kWhere).what()) == "Node worker-1 not found");
}

TEST_CASE("kube errors: 409 already exists, conflicts, and apply conflicts", "[kube][kube-errors]") {
  auto exists = decode_api_error(
      response(409, status_body(409, "AlreadyExists", "deployments.apps \"coredns\" already exists")), coredns("create"),
      kWhere);
  CHECK(exists.status == 409);
  CHECK(exists.reason == "AlreadyExists");
  CHECK(std::string(exists.what()) == "Deployment kube-system/coredns already exists");

  auto conflict = decode_api_error(
      response(409, status_body(409, "Conflict",
                                "Operation cannot be fulfilled on deployments.apps \"coredns\": the object has been "
                                "modified; please apply your changes to the latest version and try again")),
      coredns("replace"), kWhere);
  CHECK(conflict.reason == "Conflict");
  CHECK(std::string(conflict.what()) ==
        "Deployment kube-system/coredns: Operation cannot be fulfilled on deployments.apps \"coredns\": the object has "
        "been modified; please apply your changes to the latest version and try again");

  // The simulated API server's messages already name the object: not twice.
  auto sim = decode_api_error(
      response(409, status_body(409, "Conflict", "Deployment kube-system/coredns has been modified: resourceVersion 5 "
                                                 "is stale, the stored object is at 7")),
      coredns("replace"), kWhere);
  CHECK(std::string(sim.what()) ==
        "Deployment kube-system/coredns has been modified: resourceVersion 5 is stale, the stored object is at 7");

  auto apply = decode_api_error(
      response(409, status_body(409, "Conflict", "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: "
                                                 ".spec.replicas")),
      coredns("apply"), kWhere);
  CHECK(std::string(apply.what()) ==
        "Deployment kube-system/coredns: Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: "
        ".spec.replicas (apply with force = true to take these fields over from their managers)");
}

TEST_CASE("kube errors: 422 lists the invalid fields from the causes", "[kube][kube-errors]") {
  Json details = {{"name", "coredns"},
                  {"causes",
                   {{{"reason", "FieldValueInvalid"}, {"message", "Invalid value: -1: must be greater than or equal to 0"},
                     {"field", "spec.replicas"}},
                    {{"reason", "FieldValueRequired"}, {"message", "Required value"},
                     {"field", "spec.template.spec.containers[0].image"}}}}};
  auto error = decode_api_error(
      response(422, status_body(422, "Invalid", "Deployment.apps \"coredns\" is invalid: [...]", details)),
      coredns("patch"), kWhere);
  CHECK(error.status == 422);
  CHECK(error.reason == "Invalid");
  CHECK(std::string(error.what()) ==
        "Deployment kube-system/coredns is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0; "
        "spec.template.spec.containers[0].image: Required value");

  auto without_causes = decode_api_error(
      response(422, status_body(422, "Invalid", "Deployment kube-system/coredns: a merge patch must be an object, got array")),
      coredns("patch"), kWhere);
  CHECK(std::string(without_causes.what()) == "Deployment kube-system/coredns: a merge patch must be an object, got array");
}

TEST_CASE("kube errors: 403 keeps the server's words on verb and resource", "[kube][kube-errors]") {
  std::string server_words =
      "deployments.apps \"coredns\" is forbidden: User \"jane\" cannot patch resource \"deployments\" in API group "
      "\"apps\" in the namespace \"kube-system\"";
  auto error = decode_api_error(response(403, status_body(403, "Forbidden", server_words)), coredns("patch"), kWhere);
  CHECK(error.status == 403);
  CHECK(error.reason == "Forbidden");
  CHECK(std::string(error.what()) == "patch Deployment kube-system/coredns on " + kWhere + " was refused: " + server_words +
                                         " (grant the context's user that permission, or use a context whose user has it)");

  RequestSubject pods{"list", "Pod", "default", "", "pods", ""};
  auto bare = decode_api_error(response(403, ""), pods, kWhere);
  CHECK(std::string(bare.what()) == "list pods in namespace default on " + kWhere +
                                        " was refused: forbidden: the context's user cannot list pods in namespace "
                                        "default (grant the context's user that permission, or use a context whose "
                                        "user has it)");
}

TEST_CASE("kube errors: 401 says to check the context's user", "[kube][kube-errors]") {
  auto error = decode_api_error(response(401, status_body(401, "Unauthorized", "Unauthorized")), coredns("get"), kWhere);
  CHECK(error.status == 401);
  CHECK(std::string(error.what()) ==
        "get Deployment kube-system/coredns: " + kWhere + " refused the credentials (401 Unauthorized): "
        "check the context's user in the kubeconfig (an expired or revoked token, or a client certificate the cluster "
        "does not trust)");
  // A message that says more than the reason is kept.
  auto told = decode_api_error(response(401, status_body(401, "Unauthorized", "token expired")), coredns("get"), kWhere);
  CHECK(std::string(told.what()).find("(401 Unauthorized: token expired)") != std::string::npos);
}

TEST_CASE("kube errors: an eviction's 429 is the server's message with the budget", "[kube][kube-errors]") {
  RequestSubject pod{"evict", "Pod", "kube-system", "coredns-1", "pods", ""};
  Json details = {{"causes",
                   {{{"reason", "DisruptionBudget"},
                     {"message", "The disruption budget coredns-pdb needs 1 healthy pods and has 1 currently"}}}}};
  auto error = decode_api_error(
      response(429, status_body(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                                details)),
      pod, kWhere);
  CHECK(error.status == 429);
  CHECK(error.reason == "TooManyRequests");
  CHECK(std::string(error.what()) == "Cannot evict pod as it would violate the pod's disruption budget. The disruption "
                                     "budget coredns-pdb needs 1 healthy pods and has 1 currently");

  auto throttled = decode_api_error(response(429, status_body(429, "TooManyRequests", "too many requests")),
                                    coredns("get"), kWhere, 6);
  CHECK(std::string(throttled.what()) == "get Deployment kube-system/coredns: " + kWhere +
                                             " is too busy to serve it (429 TooManyRequests: too many requests) "
                                             "(after 6 attempts)");
}

TEST_CASE("kube errors: 5xx and bodies that are no Status", "[kube][kube-errors]") {
  auto error = decode_api_error(response(503, "<html>\n<body>upstream   unavailable</body>\n</html>"), coredns("get"),
                                kWhere, 3);
  CHECK(error.status == 503);
  CHECK(error.reason == "ServiceUnavailable");
  CHECK(std::string(error.what()) == "get Deployment kube-system/coredns failed on " + kWhere +
                                         ": the server answered 503 ServiceUnavailable: <html> <body>upstream "
                                         "unavailable</body> </html> (after 3 attempts)");

  auto smp = decode_api_error(
      response(415, status_body(415, "UnsupportedMediaType",
                                "the body of the request was in an unknown format - accepted media types include: "
                                "application/json-patch+json, application/merge-patch+json, "
                                "application/apply-patch+yaml (strategic merge patch is not supported)")),
      RequestSubject{"patch", "Widget", "default", "w", "widgets.example.com", ""}, kWhere);
  CHECK_THAT(std::string(smp.what()), Catch::EndsWith("(custom resources take merge patches only: patch with type = \"merge\")"));
}

TEST_CASE("kube errors: nothing of a Secret's data in a message", "[kube][kube-errors][kube-secrets]") {
  RequestSubject secret{"create", "Secret", "default", "db", "secrets", ""};
  Json details = {{"causes",
                   {{{"reason", "FieldValueInvalid"}, {"message", "Invalid value: \"hunter2-password\": must be base64"},
                     {"field", "data[password]"}}}}};
  auto error = decode_api_error(
      response(422, status_body(422, "Invalid", "Secret \"db\" is invalid: data[password]: Invalid value: "
                                                "\"hunter2-password\": must be base64", details)),
      secret, kWhere);
  CHECK(std::string(error.what()) == "Secret default/db is invalid: data[password]: Invalid value: \"***\": must be base64");

  // A body that is not a Status (a proxy's answer, a truncated object) is not quoted for Secrets.
  auto raw = decode_api_error(response(500, R"({"kind":"Secret","data":{"password":"aHVudGVyMg=="}})"),
                              RequestSubject{"get", "Secret", "default", "db", "secrets", ""}, kWhere);
  CHECK_THAT(std::string(raw.what()), !Catch::Contains("aHVudGVyMg"));
  CHECK(std::string(raw.what()) == "get Secret default/db failed on " + kWhere + ": the server answered 500 InternalError");

  CHECK(refit::kube::redact_invalid_values("a: Invalid value: \"x\\\"y\": bad; b: Invalid value: 42: too big") ==
        "a: Invalid value: \"***\": bad; b: Invalid value: \"***\": too big");
}

TEST_CASE("kube errors: connection failures say which request, where and why", "[kube][kube-errors]") {
  refit::kube::TransportError cut(refit::kube::TransportError::Stage::NotSent,
                                  "cannot reach " + kWhere + ": Failed to connect to 10.0.0.1 port 6443: Connection refused");
  auto error = refit::kube::connection_error(cut, coredns("get"), 6);
  CHECK(error.status == 0);
  CHECK(std::string(error.what()) == "get Deployment kube-system/coredns: cannot reach " + kWhere +
                                         ": Failed to connect to 10.0.0.1 port 6443: Connection refused (after 6 attempts)");
}
