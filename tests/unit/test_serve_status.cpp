// refit sim serve: Status bodies, in the API server's words.
#include <catch2/catch.hpp>

#include "serve/status.hpp"

using refit::serve::Json;
using refit::serve::StatusError;
using refit::serve::Subject;

TEST_CASE("a NotFound Status names the resource as kubectl prints it", "[serve][status]") {
  StatusError e = refit::serve::not_found(Subject{"pods", "", "Pod", "web-1"});
  CHECK(refit::serve::failure_status(e) ==
        Json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                        "message":"pods \"web-1\" not found","reason":"NotFound",
                        "details":{"name":"web-1","kind":"pods"},"code":404})"));
  StatusError apps = refit::serve::not_found(Subject{"deployments", "apps", "Deployment", "web"});
  CHECK(std::string(apps.what()) == "deployments.apps \"web\" not found");
  CHECK(apps.details == Json::parse(R"({"name":"web","group":"apps","kind":"deployments"})"));
}

TEST_CASE("conflicts, existing objects and invalid ones", "[serve][status]") {
  Subject cm{"configmaps", "", "ConfigMap", "settings"};
  StatusError conflict = refit::serve::conflict(cm);
  CHECK(conflict.code == 409);
  CHECK(conflict.reason == "Conflict");
  CHECK(std::string(conflict.what()) ==
        "Operation cannot be fulfilled on configmaps \"settings\": the object has been modified; please apply your "
        "changes to the latest version and try again");
  StatusError exists = refit::serve::already_exists(cm);
  CHECK(exists.code == 409);
  CHECK(exists.reason == "AlreadyExists");
  CHECK(std::string(exists.what()) == "configmaps \"settings\" already exists");
  StatusError invalid = refit::serve::invalid(cm, "metadata.name: Required value");
  CHECK(invalid.code == 422);
  CHECK(std::string(invalid.what()) == "ConfigMap \"settings\" is invalid: metadata.name: Required value");
  CHECK(invalid.details["kind"] == "ConfigMap");
  CHECK(invalid.details["causes"][0]["message"] == "metadata.name: Required value");
}

TEST_CASE("the simulated cluster's errors become the API server's", "[serve][status]") {
  Subject pod{"pods", "", "Pod", "web-1"};
  using refit::cluster::ApiError;
  CHECK(std::string(refit::serve::status_of(ApiError(404, "NotFound", "Pod shop/web-1 not found"), pod).what()) ==
        "pods \"web-1\" not found");
  CHECK(refit::serve::status_of(ApiError(409, "AlreadyExists", "x"), pod).reason == "AlreadyExists");
  CHECK(refit::serve::status_of(ApiError(409, "Conflict", "x"), pod).reason == "Conflict");
  StatusError budget = refit::serve::status_of(
      ApiError(429, "TooManyRequests", "Cannot evict pod shop/web-1 as it would violate the pod's disruption budget shop/web"),
      pod);
  CHECK(budget.code == 429);
  CHECK(budget.reason == "TooManyRequests");
  CHECK(std::string(budget.what()) ==
        "Cannot evict pod shop/web-1 as it would violate the pod's disruption budget shop/web");
  CHECK(budget.details["causes"][0]["reason"] == "DisruptionBudget");
  StatusError model = refit::serve::status_of(ApiError(500, "InternalError", "the eviction model failed: boom"), pod);
  CHECK(model.code == 500);
  CHECK(std::string(model.what()) == "the eviction model failed: boom");
}

TEST_CASE("method and path errors, and a Status of success", "[serve][status]") {
  CHECK(refit::serve::failure_status(refit::serve::method_not_allowed()) ==
        Json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                        "message":"the server does not allow this method on the requested resource",
                        "reason":"MethodNotAllowed","code":405})"));
  CHECK(refit::serve::failure_status(refit::serve::resource_not_served())["message"] ==
        "the server could not find the requested resource");
  CHECK(refit::serve::success_status(201) ==
        Json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201})"));
}
