// The status subresource (<plural>/<name>/status): PUT replaces .status, PATCH patches it; nothing
// else of the object changes, as with the API server. Both go through the simulated cluster's
// patch_status, the path the models' status writers take.
#include <fmt/format.h>

#include "serve/api_request.hpp"
#include "serve/json_writer.hpp"
#include "serve/request_body.hpp"
#include "data/json_errors.hpp"

namespace refit::serve {
namespace {

// The RFC 7386 merge patch that turns `from` into `to`.
Json merge_diff(const Json& from, const Json& to) {
  if (!from.is_object() || !to.is_object()) return to;
  Json patch = Json::object();
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (!to.contains(it.key())) patch[it.key()] = nullptr;
  }
  for (auto it = to.begin(); it != to.end(); ++it) {
    auto was = from.find(it.key());
    if (was == from.end()) {
      patch[it.key()] = *it;
    } else if (*was != *it) {
      patch[it.key()] = merge_diff(*was, *it);
    }
  }
  return patch;
}

Json status_of_object(const Json& object) {
  auto it = object.find("status");
  return it != object.end() ? *it : Json();
}

// The stored object (404 when absent); a stale metadata.resourceVersion in `given` is a 409.
Json current_object(const ApiRequest& request, const Json& given) {
  Json current;
  if (!request.cluster.get(request.ref(), [&](const Json& object) { current = object; })) {
    throw not_found(request.subject());
  }
  std::string wanted;
  if (auto metadata = given.find("metadata"); metadata != given.end() && metadata->is_object()) {
    wanted = metadata->value("resourceVersion", std::string());
  }
  if (!wanted.empty() && wanted != current["metadata"].value("resourceVersion", std::string())) {
    throw conflict(request.subject());
  }
  return current;
}

void write_status(const ApiRequest& request, const Json& status_patch) {
  bool dry_run = request.dry_run();
  std::string body;
  try {
    DryRunScope scope(request.cluster, dry_run);
    request.cluster.patch_status(request.ref(), status_patch, [&](const Json& stored) {
      body = request.world.served_json(stored, request.resource.api_version);
    });
  } catch (const cluster::ApiError& e) {
    throw status_of(e, request.subject());
  }
  if (!dry_run) request.world.settle();
  respond_json(request.response, 200, std::move(body));
}

}  // namespace

void handle_status_update(const ApiRequest& request) {
  Json object = request.body();
  fit_to_request(object, request, request.path.name);
  Json current = current_object(request, object);
  write_status(request, merge_diff(status_of_object(current), status_of_object(object)));
}

// Merge and strategic-merge patches (and apply) patch .status as a merge patch (a strategic patch's
// lists keyed by type, such as conditions, are replaced whole); a JSON patch applies to the whole
// object and keeps what it made of .status.
void handle_status_patch(const ApiRequest& request) {
  std::string type = request.media_type();
  Json patch = request.body();
  if (type == "application/json-patch+json") {
    Json current = current_object(request, Json::object());
    Json patched;
    try {
      patched = current.patch(patch);
    } catch (const Json::exception& e) {
      throw invalid(request.subject(), fmt::format("the JSON patch failed: {}", data::json_error_reason(e)));
    }
    write_status(request, merge_diff(status_of_object(current), status_of_object(patched)));
    return;
  }
  bool merge = type == "application/merge-patch+json" || type == "application/apply-patch+yaml" ||
               (type == "application/strategic-merge-patch+json" && !request.resource.custom);
  if (!merge) throw unsupported_patch_type(request);
  if (!patch.is_object()) throw bad_request("a merge patch must be a JSON object");
  current_object(request, patch);
  auto status = patch.find("status");
  if (status == patch.end()) {
    handle_get(request);  // nothing to change: the object as it is
    return;
  }
  write_status(request, *status);
}

}  // namespace refit::serve
