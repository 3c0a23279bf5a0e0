// The API server's Status bodies (kind Status, apiVersion v1): every error `refit sim serve` answers
// is one, with the reason and message a real API server gives, so that kubectl prints the same
// `Error from server (NotFound): pods "x" not found` and clients can decode the failure.
#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cluster/cluster.hpp"

namespace refit::serve {

using Json = nlohmann::json;

// A failure to answer with a Status body. `details` is the Status's details ({name, group, kind,
// causes}), or null.
class StatusError : public std::runtime_error {
 public:
  StatusError(int code, std::string reason, const std::string& message, Json details = nullptr)
      : std::runtime_error(message), code(code), reason(std::move(reason)), details(std::move(details)) {}
  int code;
  std::string reason;
  Json details;
};

// {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":...,"reason":...,
//  "details":...,"code":...}; details left out when null.
Json failure_status(const StatusError& error);

// A Status of success (what an eviction answers): status Success, code, details when given.
Json success_status(int code, Json details = nullptr);

// How messages name a resource: "pods", "deployments.apps".
std::string qualified_resource(std::string_view resource, std::string_view group);

// What a request is about, for messages and Status details.
struct Subject {
  std::string_view resource;  // plural
  std::string_view group;
  std::string_view kind;
  std::string_view name;
};

StatusError not_found(const Subject& subject);           // pods "x" not found
StatusError already_exists(const Subject& subject);      // pods "x" already exists
StatusError conflict(const Subject& subject);            // Operation cannot be fulfilled on pods "x": ...
StatusError invalid(const Subject& subject, const std::string& why);  // Pod "x" is invalid: why
StatusError bad_request(const std::string& message);     // 400 BadRequest
StatusError method_not_allowed();                        // 405 MethodNotAllowed
StatusError resource_not_served();                       // 404: the server could not find the requested resource

// The Status for a simulated cluster's ApiError, in the API server's words for `subject`.
StatusError status_of(const cluster::ApiError& error, const Subject& subject);

}  // namespace refit::serve
