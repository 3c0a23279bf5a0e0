#include "serve/status.hpp"

#include <fmt/format.h>

namespace refit::serve {
namespace {

Json details_of(const Subject& subject) {
  Json details = Json::object();
  if (!subject.name.empty()) details["name"] = subject.name;
  if (!subject.group.empty()) details["group"] = subject.group;
  if (!subject.resource.empty()) details["kind"] = subject.resource;
  return details;
}

std::string quoted(std::string_view name) { return fmt::format("\"{}\"", name); }

}  // namespace

Json failure_status(const StatusError& error) {
  Json status = {{"kind", "Status"},
                 {"apiVersion", "v1"},
                 {"metadata", Json::object()},
                 {"status", "Failure"},
                 {"message", error.what()},
                 {"reason", error.reason},
                 {"code", error.code}};
  if (!error.details.is_null()) status["details"] = error.details;
  return status;
}

Json success_status(int code, Json details) {
  Json status = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Success"},
                 {"code", code}};
  if (!details.is_null()) status["details"] = std::move(details);
  return status;
}

std::string qualified_resource(std::string_view resource, std::string_view group) {
  return group.empty() ? std::string(resource) : fmt::format("{}.{}", resource, group);
}

StatusError not_found(const Subject& s) {
  return {404, "NotFound", fmt::format("{} {} not found", qualified_resource(s.resource, s.group), quoted(s.name)),
          details_of(s)};
}

StatusError already_exists(const Subject& s) {
  return {409, "AlreadyExists",
          fmt::format("{} {} already exists", qualified_resource(s.resource, s.group), quoted(s.name)), details_of(s)};
}

StatusError conflict(const Subject& s) {
  return {409, "Conflict",
          fmt::format("Operation cannot be fulfilled on {} {}: the object has been modified; please apply your "
                      "changes to the latest version and try again",
                      qualified_resource(s.resource, s.group), quoted(s.name)),
          details_of(s)};
}

StatusError invalid(const Subject& s, const std::string& why) {
  Json details = details_of(s);
  details["kind"] = s.kind;
  details["causes"] = Json::array({{{"reason", "FieldValueInvalid"}, {"message", why}}});
  return {422, "Invalid", fmt::format("{} {} is invalid: {}", s.kind, quoted(s.name), why), std::move(details)};
}

StatusError bad_request(const std::string& message) { return {400, "BadRequest", message}; }

StatusError method_not_allowed() {
  return {405, "MethodNotAllowed", "the server does not allow this method on the requested resource"};
}

StatusError resource_not_served() {
  return {404, "NotFound", "the server could not find the requested resource"};
}

StatusError status_of(const cluster::ApiError& error, const Subject& subject) {
  switch (error.status) {
    case 404: return not_found(subject);
    case 409: return error.reason == "AlreadyExists" ? already_exists(subject) : conflict(subject);
    case 422: return invalid(subject, error.what());
    case 429: {
      // An eviction a disruption budget forbids: the model's message names the budget.
      Json details = details_of(subject);
      details["causes"] = Json::array({{{"reason", "DisruptionBudget"}, {"message", error.what()}}});
      return {429, "TooManyRequests", error.what(), std::move(details)};
    }
    default: break;
  }
  int code = error.status == 0 ? 500 : error.status;
  return {code, error.reason.empty() ? "InternalError" : error.reason, error.what(), details_of(subject)};
}

}  // namespace refit::serve
