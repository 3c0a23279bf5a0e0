// Which resource (plural, scope) serves a kind in an apiVersion on one cluster, from the API server's
// discovery documents (/api/v1, /apis/<group>/<version>). Each group version is fetched on first use
// and kept for the client's life: the resources a server serves do not change during a run, except
// through CustomResourceDefinitions, so a kind missing from a cached document is looked up once more
// (once per kind, until a CustomResourceDefinition is written: see forget_misses).
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <string_view>

#include <nlohmann/json.hpp>

namespace refit::kube {

struct ApiResource {
  std::string api_version;  // "apps/v1"
  std::string kind;         // "Deployment"
  std::string plural;       // "deployments"
  std::string group;        // "apps"; "" for the core group
  bool namespaced = false;
  std::string base_path;    // "/apis/apps/v1", "/api/v1"
  bool listable = false;    // its verbs include "list"

  // "deployments.apps", "pods": how Kubernetes names the resource in permissions.
  std::string qualified() const { return group.empty() ? plural : plural + "." + group; }
  // The collection in `ns` (ns ignored for cluster-scoped resources; empty: all namespaces).
  std::string collection_path(std::string_view ns) const;
  std::string object_path(std::string_view ns, std::string_view name) const;
};

// "&labelSelector=...&fieldSelector=..." (each only when given), to append to a collection's query.
std::string selector_query(const std::string& labels, const std::string& fields);

class Discovery {
 public:
  // GETs a discovery document: the parsed body, or nullopt when the server does not serve that group
  // version (404). Throws what the request throws otherwise.
  using Fetch = std::function<std::optional<nlohmann::json>(const std::string& path)>;
  explicit Discovery(Fetch fetch) : fetch_(std::move(fetch)) {}

  // The resource of `kind` in `api_version` (not empty), or nullptr when the server does not serve it.
  const ApiResource* find(std::string_view api_version, std::string_view kind);

  // Whether the server serves `api_version` at all (fetches its document when not yet known).
  bool serves(std::string_view api_version);

  // Every resource the server lists, in the preferred version of each group (a snapshot reads them).
  std::vector<ApiResource> listable();

  // A CustomResourceDefinition was written: kinds found missing may be served now.
  void forget_misses() { misses_.clear(); }

 private:
  struct GroupVersion {
    bool served = false;
    std::map<std::string, ApiResource, std::less<>> by_kind;
  };
  GroupVersion& load(std::string_view api_version, bool refresh);

  Fetch fetch_;
  std::map<std::string, GroupVersion, std::less<>> group_versions_;
  std::set<std::string, std::less<>> misses_;  // "apiVersion kind" looked up again and still missing
};

}  // namespace refit::kube
