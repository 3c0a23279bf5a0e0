#include "serve/request_body.hpp"

#include <fmt/format.h>

#include "cluster/kinds.hpp"
#include "data/json_fields.hpp"

namespace refit::serve {

using data::string_member;

std::string name_of(const Json& object) {
  auto metadata = object.find("metadata");
  return metadata != object.end() ? string_member(*metadata, "name") : std::string();
}

std::string namespace_of(const Json& object) {
  auto metadata = object.find("metadata");
  return metadata != object.end() ? string_member(*metadata, "namespace") : std::string();
}

void fit_to_request(Json& object, const ApiRequest& request, std::string_view url_name) {
  const ResourceInfo& resource = request.resource;
  if (!object.is_object()) {
    throw bad_request(fmt::format("the request body must be a {} object, got {}", resource.kind, object.type_name()));
  }
  std::string kind = string_member(object, "kind");
  if (kind.empty()) {
    object["kind"] = resource.kind;
  } else if (kind != resource.kind) {
    throw bad_request(fmt::format("the object's kind {} does not match the resource {} (kind {})", kind,
                                  qualified_resource(resource.plural, resource.group), resource.kind));
  }
  std::string api_version = string_member(object, "apiVersion");
  if (api_version.empty()) {
    object["apiVersion"] = resource.api_version;
  } else if (storage_group_of(group_of(api_version), resource.kind) != storage_group_of(resource.group, resource.kind)) {
    throw bad_request(fmt::format("the object's apiVersion {} does not match the resource {} (apiVersion {})",
                                  api_version, qualified_resource(resource.plural, resource.group), resource.api_version));
  }
  Json& metadata = object["metadata"];
  if (!metadata.is_object()) metadata = Json::object();
  std::string name = string_member(metadata, "name");
  if (!url_name.empty()) {
    if (name.empty()) {
      metadata["name"] = url_name;
    } else if (name != url_name) {
      throw bad_request(fmt::format("the name of the object ({}) does not match the name on the URL ({})", name, url_name));
    }
  }
  if (resource.namespaced) {
    std::string ns = string_member(metadata, "namespace");
    if (ns.empty()) {
      metadata["namespace"] = request.path.ns;
    } else if (ns != request.path.ns) {
      throw bad_request(fmt::format("the namespace of the provided object ({}) does not match the namespace sent on "
                                    "the request ({})", ns, request.path.ns));
    }
  }
}

void require_namespace(const ApiRequest& request, std::string_view ns) {
  if (!request.resource.namespaced) return;
  sim::ObjectRef ref{"v1", "Namespace", "", std::string(ns)};
  if (!request.cluster.get(ref, [](const Json&) {})) {
    throw not_found(Subject{"namespaces", "", "Namespace", ns});
  }
}

StatusError unsupported_patch_type(const ApiRequest& request) {
  std::string accepted = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";
  if (!request.resource.custom) accepted += ", application/strategic-merge-patch+json";
  return StatusError(415, "UnsupportedMediaType",
                     fmt::format("the body of the request was in an unknown format - accepted media types include: {}",
                                 accepted));
}

}  // namespace refit::serve
