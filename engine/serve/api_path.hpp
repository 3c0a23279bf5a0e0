// Where a request to `refit sim serve` goes: the world cluster it names (/clusters/<name>), and what
// the Kubernetes API path under that prefix asks for (discovery, a collection, an object, a
// subresource), or one of refit's own endpoints (/refit/v1/...).
#pragma once
#include <string>
#include <string_view>

namespace refit::serve {

enum class Endpoint {
  Unknown,       // no such path: 404
  Version,       // /version
  Health,        // /healthz, /livez, /readyz
  OpenApi,       // /openapi/v2 (version "v2"): a document without schemas; /openapi/v3...: 404
  CoreVersions,  // /api
  GroupList,     // /apis
  Group,         // /apis/<group>
  ResourceList,  // /api/v1, /apis/<group>/<version>
  Resource,      // a collection, an object or a subresource
  RefitDump,     // /refit/v1/dump (no cluster prefix: the whole world)
};

struct ApiPath {
  Endpoint endpoint = Endpoint::Unknown;
  std::string cluster;      // from /clusters/<name>; empty for /refit/v1/...
  std::string group;        // "" for the core group (/api/v1)
  std::string version;      // "v1", "v1beta1"
  std::string ns;           // from .../namespaces/<ns>/<resource>; empty when cluster-wide
  std::string resource;     // the plural: pods, deployments
  std::string name;         // empty for a collection
  std::string subresource;  // status, eviction, finalize; empty for the object itself
};

// Parses a decoded request path. Never throws: a path that names nothing is Endpoint::Unknown (with
// the cluster filled in when the prefix was there). A trailing slash is ignored.
ApiPath parse_api_path(std::string_view path);

// "v1" or "apps/v1".
std::string group_version(std::string_view group, std::string_view version);

}  // namespace refit::serve
