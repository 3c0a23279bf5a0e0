// The resources one served cluster offers, as its discovery endpoints describe them: the built-in
// kinds at their default versions (cluster/kinds.hpp), their deprecated versions until the cluster's
// minor removed them, and the custom resources of the CustomResourceDefinitions in its store. Built
// once per cluster version and CRD change, so that a request resolves its resource in O(log n).
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/sim/sim_cluster.hpp"

namespace refit::serve {

using Json = nlohmann::json;

struct ResourceInfo {
  std::string group;        // "" for the core group
  std::string version;      // the served version this entry is for
  std::string api_version;  // "v1", "apps/v1"
  std::string plural;       // "deployments"
  std::string singular;     // "deployment"
  std::string kind;         // "Deployment"
  bool namespaced = true;
  bool has_status = false;  // serves <plural>/status
  bool has_scale = false;   // serves <plural>/scale (autoscaling/v1 Scale)
  bool custom = false;      // from a CustomResourceDefinition (no strategic-merge patches)
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
};

class ResourceCatalog {
 public:
  explicit ResourceCatalog(const sim::SimCluster& cluster);

  // The cluster version the catalog was built for: a control-plane upgrade changes what is served.
  const std::string& git_version() const { return git_version_; }

  // nullptr when the cluster does not serve `plural` in group/version.
  const ResourceInfo* find(std::string_view group, std::string_view version, std::string_view plural) const;

  // Whether the group/version is served at all (an unknown resource in a served version is a 404 of
  // the resource, not of the path).
  bool serves(std::string_view group, std::string_view version) const;

  // The version of the eviction subresource (policy/v1 from Kubernetes 1.22, policy/v1beta1 before).
  const std::string& eviction_version() const { return eviction_version_; }

  // Discovery documents: /api (APIVersions), /apis (APIGroupList), /apis/<group> (APIGroup),
  // /api/v1 and /apis/<group>/<version> (APIResourceList). nullopt: not served.
  Json core_versions(const std::string& server_address) const;
  Json group_list() const;
  std::optional<Json> group(std::string_view name) const;
  std::optional<Json> resource_list(std::string_view group, std::string_view version) const;

 private:
  void add(ResourceInfo info);
  Json group_entry(const std::string& name) const;

  std::string git_version_;
  std::string eviction_version_;
  std::map<std::string, ResourceInfo> by_key_;              // "group/version/plural"
  std::map<std::string, std::vector<std::string>> groups_;  // group -> versions, preferred first
  std::vector<std::string> group_order_;                    // built-in groups first, then custom ones
};

// Kubernetes' version priority: GA before beta before alpha, higher numbers first (v2 > v1 > v1beta2
// > v1beta1 > v1alpha1); versions that follow no such pattern sort last, alphabetically.
bool version_before(std::string_view a, std::string_view b);

}  // namespace refit::serve
