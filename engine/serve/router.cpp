#include "serve/router.hpp"

#include <fmt/format.h>

#include "serve/api_request.hpp"

namespace refit::serve {
namespace {

std::string cluster_list(const ServedWorld& world) {
  std::string out;
  for (const std::string& name : world.names()) out += (out.empty() ? "" : ", ") + fmt::format("/clusters/{}", name);
  return out;
}

StatusError unknown_path(const ServedWorld& world, const ApiPath& path) {
  if (path.cluster.empty()) {
    return StatusError(404, "NotFound",
                       fmt::format("the server could not find the requested resource: refit sim serve serves each "
                                   "cluster of the world under its own path ({})", cluster_list(world)));
  }
  return resource_not_served();
}

StatusError unknown_cluster(const ServedWorld& world, const std::string& name) {
  return StatusError(404, "NotFound",
                     fmt::format("cluster \"{}\" is not in the served world (it serves {})", name, cluster_list(world)),
                     Json{{"name", name}});
}

// The OpenAPI v2 document, without schemas: kubectl reads it (as protobuf) before it validates a
// manifest, and validates nothing for kinds the document does not describe. Without it, kubectl
// apply refuses to run unless given --validate=false.
void respond_openapi_v2(const httplib::Request& http, httplib::Response& response) {
  static const std::string kTitle = "refit sim serve";
  if (http.get_header_value("Accept").find("protobuf") != std::string::npos) {
    // openapi_v2.Document{swagger: "2.0", info: {title, version: "v2"}}, protobuf-encoded by hand:
    // field 1 (swagger) and field 2 (info: title = field 1, version = field 2), all length-delimited.
    std::string info = std::string("\x0a") + static_cast<char>(kTitle.size()) + kTitle + "\x12\x02v2";
    std::string body = std::string("\x0a\x03") + "2.0" + "\x12" + static_cast<char>(info.size()) + info;
    response.status = 200;
    response.set_content(body, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
    return;
  }
  Json document = {{"swagger", "2.0"}, {"info", {{"title", kTitle}, {"version", "v2"}}}, {"paths", Json::object()},
                   {"definitions", Json::object()}};
  respond_json(response, 200, document.dump());
}

void respond_discovery(ServedWorld& world, sim::SimCluster& cluster, const ApiPath& path, const httplib::Request& http,
                       const std::string& server_address, httplib::Response& response) {
  const ResourceCatalog& catalog = world.catalog(cluster);
  switch (path.endpoint) {
    case Endpoint::Version: {
      cluster::ServerVersion version = cluster.version();
      Json body = {{"major", version.major}, {"minor", version.minor}, {"gitVersion", version.git_version}};
      respond_json(response, 200, body.dump());
      return;
    }
    case Endpoint::Health:
      response.status = 200;
      response.set_content("ok", "text/plain");
      return;
    case Endpoint::CoreVersions:
      respond_json(response, 200, catalog.core_versions(server_address).dump());
      return;
    case Endpoint::GroupList:
      respond_json(response, 200, catalog.group_list().dump());
      return;
    case Endpoint::Group:
      if (auto group = catalog.group(path.group)) {
        respond_json(response, 200, group->dump());
        return;
      }
      break;
    case Endpoint::ResourceList:
      if (auto list = catalog.resource_list(path.group, path.version)) {
        respond_json(response, 200, list->dump());
        return;
      }
      break;
    case Endpoint::OpenApi:
      if (path.version == "v2") {
        respond_openapi_v2(http, response);
        return;
      }
      break;  // /openapi/v3: kubectl then validates on the client, with the v2 document
    default: break;
  }
  throw resource_not_served();
}

void dispatch(const ApiRequest& request) {
  const std::string& method = request.http.method;
  const ApiPath& path = request.path;
  if (!path.subresource.empty()) {
    if (path.subresource == "status" && request.resource.has_status) {
      if (method == "GET") return handle_get(request);
      if (method == "PUT") return handle_status_update(request);
      if (method == "PATCH") return handle_status_patch(request);
      throw method_not_allowed();
    }
    if (path.subresource == "scale" && request.resource.has_scale) {
      if (method == "GET") return handle_scale_get(request);
      if (method == "PUT") return handle_scale_update(request);
      if (method == "PATCH") return handle_scale_patch(request);
      throw method_not_allowed();
    }
    if (path.subresource == "eviction" && request.resource.group.empty() && request.resource.plural == "pods") {
      if (method == "POST") return handle_eviction(request);
      throw method_not_allowed();
    }
    throw resource_not_served();
  }
  bool watch = request.flag("watch");
  if (path.name.empty()) {
    if (method == "GET") return watch ? handle_watch(request) : handle_list(request);
    if (method == "POST") return handle_create(request);
    if (method == "DELETE" && !(request.resource.namespaced && path.ns.empty())) return handle_delete_collection(request);
  } else {
    if (method == "GET") return watch ? handle_watch(request) : handle_get(request);
    if (method == "PUT") return handle_update(request);
    if (method == "PATCH") return handle_patch(request);
    if (method == "DELETE") return handle_delete(request);
  }
  throw method_not_allowed();
}

}  // namespace

void route(ServedWorld& world, const std::string& server_address, const httplib::Request& http,
           httplib::Response& response, std::optional<std::int64_t> watch_lifetime_ms) {
  ApiPath path = parse_api_path(http.path);
  try {
    if (path.endpoint == Endpoint::RefitDump) {
      if (http.method != "GET") throw method_not_allowed();
      auto lock = world.lock();
      respond_json(response, 200, world.runtime().dump().dump());
      return;
    }
    // POST /refit/v1/exec (the tool models, for `refit sim exec`) is routed here, beside the dump.
    if (path.endpoint == Endpoint::Unknown && path.cluster.empty()) throw unknown_path(world, path);

    auto lock = world.lock();
    if (auto failed = world.failure()) throw StatusError(500, "InternalError", *failed);
    sim::SimCluster* cluster = world.cluster(path.cluster);
    if (cluster == nullptr) throw unknown_cluster(world, path.cluster);
    if (path.endpoint == Endpoint::Unknown) throw unknown_path(world, path);
    if (path.endpoint != Endpoint::Resource) {
      if (http.method != "GET") throw method_not_allowed();
      respond_discovery(world, *cluster, path, http, server_address, response);
      return;
    }
    const ResourceInfo* resource = world.catalog(*cluster).find(path.group, path.version, path.resource);
    if (resource == nullptr) throw resource_not_served();
    // A namespaced object is reached through its namespace; a cluster-scoped one never is.
    if (resource->namespaced ? (path.ns.empty() && !path.name.empty()) : !path.ns.empty()) throw resource_not_served();
    dispatch(ApiRequest{http, response, path, world, *cluster, *resource, watch_lifetime_ms});
  } catch (const StatusError& e) {
    respond_status(response, e);
  } catch (const cluster::ApiError& e) {
    respond_status(response, status_of(e, Subject{path.resource, path.group, "", path.name}));
  } catch (const sim::StoreError& e) {
    respond_status(response, status_of(sim::api_error_of(e), Subject{path.resource, path.group, "", path.name}));
  } catch (const std::invalid_argument& e) {
    respond_status(response, bad_request(e.what()));
  } catch (const std::exception& e) {
    respond_status(response, StatusError(500, "InternalError", e.what()));
  }
}

}  // namespace refit::serve
