// The scale subresource of Deployments, ReplicaSets and StatefulSets (kubectl scale, autoscalers):
// an autoscaling/v1 Scale read from the object, and writes that set its spec.replicas.
#include <fmt/format.h>

#include "cluster/selectors.hpp"
#include "serve/api_request.hpp"
#include "serve/request_body.hpp"
#include "data/json_errors.hpp"

namespace refit::serve {
namespace {

// The Scale of `object`; its status.selector is the label selector in its string form.
Json scale_of(const Json& object) {
  const Json& metadata = object.at("metadata");
  Json scale_metadata = Json::object();
  for (const char* key : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (auto it = metadata.find(key); it != metadata.end()) scale_metadata[key] = *it;
  }
  Json spec = object.value("spec", Json::object());
  Json status = object.value("status", Json::object());
  std::string selector;
  try {
    selector = LabelSelector::from_json(spec.value("selector", Json())).to_string();
  } catch (const SelectorError&) {
    // A selector that matches nothing has no string form; the Scale then names none.
  }
  return {{"kind", "Scale"},
          {"apiVersion", "autoscaling/v1"},
          {"metadata", std::move(scale_metadata)},
          {"spec", {{"replicas", spec.value("replicas", 1)}}},
          {"status", {{"replicas", status.value("replicas", 0)}, {"selector", selector}}}};
}

Json current_scale(const ApiRequest& request) {
  Json scale;
  if (!request.cluster.get(request.ref(), [&](const Json& object) { scale = scale_of(object); })) {
    throw not_found(request.subject());
  }
  return scale;
}

// Sets spec.replicas from `wanted` (a Scale), checking its resourceVersion, and answers the new Scale.
void write_replicas(const ApiRequest& request, const Json& wanted) {
  auto replicas = wanted.find("spec");
  if (replicas == wanted.end() || !replicas->is_object() || !replicas->contains("replicas") ||
      !(*replicas)["replicas"].is_number_integer() || (*replicas)["replicas"].get<std::int64_t>() < 0) {
    throw invalid(request.subject(), "spec.replicas: Invalid value: must be a non-negative integer");
  }
  Json patch = {{"spec", {{"replicas", (*replicas)["replicas"]}}}};
  if (auto metadata = wanted.find("metadata"); metadata != wanted.end() && metadata->is_object()) {
    if (auto rv = metadata->find("resourceVersion"); rv != metadata->end() && rv->is_string() && !rv->get_ref<const std::string&>().empty()) {
      patch["metadata"] = {{"resourceVersion", *rv}};
    }
  }
  bool dry_run = request.dry_run();
  Json scale;
  try {
    DryRunScope scope(request.cluster, dry_run);
    request.cluster.merge_patch(request.ref(), patch, [&](const Json& stored) { scale = scale_of(stored); });
  } catch (const cluster::ApiError& e) {
    throw status_of(e, request.subject());
  }
  if (!dry_run) request.world.settle();
  respond_json(request.response, 200, scale.dump());
}

}  // namespace

void handle_scale_get(const ApiRequest& request) { respond_json(request.response, 200, current_scale(request).dump()); }

void handle_scale_update(const ApiRequest& request) { write_replicas(request, request.body()); }

void handle_scale_patch(const ApiRequest& request) {
  std::string type = request.media_type();
  Json scale = current_scale(request);
  Json patch = request.body();
  if (type == "application/json-patch+json") {
    try {
      scale = scale.patch(patch);
    } catch (const Json::exception& e) {
      throw invalid(request.subject(), fmt::format("the JSON patch failed: {}", data::json_error_reason(e)));
    }
  } else if (type == "application/merge-patch+json" || type == "application/strategic-merge-patch+json" ||
             type == "application/apply-patch+yaml") {
    if (!patch.is_object()) throw bad_request("a merge patch must be a JSON object");
    scale.merge_patch(patch);
  } else {
    throw unsupported_patch_type(request);
  }
  write_replicas(request, scale);
}

}  // namespace refit::serve
