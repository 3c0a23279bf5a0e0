#include "serve/fault_filter.hpp"

#include <chrono>
#include <thread>

#include "serve/api_path.hpp"
#include "serve/api_request.hpp"

namespace refit::serve {
namespace {

bool watching(const httplib::Request& request) {
  std::string value = request.get_param_value("watch");
  return value == "1" || value == "true";
}

std::string verb_of(const httplib::Request& request, const ApiPath& path) {
  const std::string& method = request.method;
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return path.name.empty() ? "deletecollection" : "delete";
  if (path.subresource.empty() && watching(request)) return "watch";
  return path.name.empty() && path.subresource.empty() ? "list" : "get";
}

}  // namespace

RequestInfo request_info(const httplib::Request& request) {
  ApiPath path = parse_api_path(request.path);
  if (path.endpoint != Endpoint::Resource) return RequestInfo{"get", "", ""};
  return RequestInfo{verb_of(request, path), path.resource, path.subresource};
}

FaultOutcome apply_faults(ApiFaults& faults, const httplib::Request& request, httplib::Response& response) {
  RequestInfo info = request_info(request);
  Decision decision = faults.decide(info);
  if (decision.latency_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(decision.latency_ms));
  FaultOutcome outcome;
  if (decision.status != 0) {
    respond_json(response, decision.status, injected_status(decision, info).dump());
    if (decision.retry_after_s > 0) response.set_header("Retry-After", std::to_string(decision.retry_after_s));
    outcome.answered = true;
    return outcome;
  }
  if (info.verb == "watch") outcome.watch_lifetime_ms = faults.watch_lifetime();
  return outcome;
}

}  // namespace refit::serve
