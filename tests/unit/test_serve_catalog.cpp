// refit sim serve: what a served cluster's discovery says (built-in kinds, the deprecated versions
// its minor still serves, custom resources from CRDs).
#include <catch2/catch.hpp>

#include "cluster/sim/sim_cluster.hpp"
#include "serve/resource_catalog.hpp"

using refit::serve::Json;
using refit::serve::ResourceCatalog;
using refit::sim::SimCluster;

namespace {

Json crontab_crd(Json versions) {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "crontabs.stable.example.com"}}},
          {"spec",
           {{"group", "stable.example.com"},
            {"scope", "Namespaced"},
            {"names", {{"plural", "crontabs"}, {"singular", "crontab"}, {"kind", "CronTab"}, {"shortNames", {"ct"}}}},
            {"versions", std::move(versions)}}}};
}

Json find_resource(const Json& list, const std::string& name) {
  for (const Json& r : list["resources"])
    if (r["name"] == name) return r;
  return nullptr;
}

}  // namespace

TEST_CASE("built-in kinds are served at their default versions, with kubectl's short names", "[serve][catalog]") {
  SimCluster cluster("demo", "v1.27.4", [] { return 0; });
  ResourceCatalog catalog(cluster);
  const auto* deployments = catalog.find("apps", "v1", "deployments");
  REQUIRE(deployments != nullptr);
  CHECK(deployments->kind == "Deployment");
  CHECK(deployments->namespaced);
  CHECK(deployments->has_status);
  CHECK(deployments->short_names == std::vector<std::string>{"deploy"});
  CHECK(deployments->categories == std::vector<std::string>{"all"});
  const auto* nodes = catalog.find("", "v1", "nodes");
  REQUIRE(nodes != nullptr);
  CHECK_FALSE(nodes->namespaced);
  CHECK(catalog.find("", "v1", "deployments") == nullptr);

  auto core = catalog.resource_list("", "v1");
  REQUIRE(core.has_value());
  CHECK((*core)["groupVersion"] == "v1");
  CHECK(find_resource(*core, "pods") ==
        Json::parse(R"({"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","shortNames":["po"],
                        "categories":["all"],
                        "verbs":["create","delete","deletecollection","get","list","patch","update","watch"]})"));
  CHECK(find_resource(*core, "pods/status") ==
        Json::parse(R"({"name":"pods/status","singularName":"","namespaced":true,"kind":"Pod",
                        "verbs":["get","patch","update"]})"));
  // kubectl drain takes the eviction version from here: policy/v1 from Kubernetes 1.22.
  CHECK(find_resource(*core, "pods/eviction") ==
        Json::parse(R"({"name":"pods/eviction","singularName":"","namespaced":true,"group":"policy","version":"v1",
                        "kind":"Eviction","verbs":["create"]})"));
  CHECK(find_resource(*core, "configmaps/status").is_null());
}

TEST_CASE("deprecated versions are served until the minor that removed them", "[serve][catalog]") {
  SimCluster old_cluster("old", "v1.20.15-eks-14c7a48", [] { return 0; });
  ResourceCatalog v120(old_cluster);
  CHECK(v120.find("policy", "v1beta1", "poddisruptionbudgets") != nullptr);
  CHECK(v120.find("extensions", "v1beta1", "ingresses") != nullptr);
  CHECK(v120.find("extensions", "v1beta1", "deployments") == nullptr);  // gone in 1.16
  CHECK(v120.eviction_version() == "v1beta1");
  auto policy = v120.group("policy");
  REQUIRE(policy.has_value());
  CHECK((*policy)["preferredVersion"] == Json::parse(R"({"groupVersion":"policy/v1","version":"v1"})"));
  CHECK((*policy)["versions"] ==
        Json::parse(R"([{"groupVersion":"policy/v1","version":"v1"},{"groupVersion":"policy/v1beta1","version":"v1beta1"}])"));

  SimCluster new_cluster("new", "v1.25.0", [] { return 0; });
  ResourceCatalog v125(new_cluster);
  CHECK(v125.find("policy", "v1beta1", "poddisruptionbudgets") == nullptr);
  CHECK(v125.find("extensions", "v1beta1", "ingresses") == nullptr);
  CHECK_FALSE(v125.resource_list("extensions", "v1beta1").has_value());
  CHECK(v125.find("autoscaling", "v2beta2", "horizontalpodautoscalers") != nullptr);  // until 1.26
}

TEST_CASE("custom resources come from the CustomResourceDefinitions in the store", "[serve][catalog]") {
  SimCluster cluster("demo", "v1.27.4", [] { return 0; });
  cluster.store().create(crontab_crd(Json::parse(R"([
      {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
      {"name": "v1beta1", "served": true, "storage": false},
      {"name": "v1alpha1", "served": false, "storage": false}])")));
  ResourceCatalog catalog(cluster);
  const auto* v1 = catalog.find("stable.example.com", "v1", "crontabs");
  REQUIRE(v1 != nullptr);
  CHECK(v1->kind == "CronTab");
  CHECK(v1->custom);
  CHECK(v1->has_status);
  CHECK(v1->short_names == std::vector<std::string>{"ct"});
  const auto* beta = catalog.find("stable.example.com", "v1beta1", "crontabs");
  REQUIRE(beta != nullptr);
  CHECK(beta->has_status);  // the simulated store keeps .status apart for every kind
  CHECK(catalog.find("stable.example.com", "v1alpha1", "crontabs") == nullptr);

  Json groups = catalog.group_list();
  CHECK(groups["kind"] == "APIGroupList");
  CHECK(groups["groups"].back() ==
        Json::parse(R"({"name":"stable.example.com",
                        "versions":[{"groupVersion":"stable.example.com/v1","version":"v1"},
                                    {"groupVersion":"stable.example.com/v1beta1","version":"v1beta1"}],
                        "preferredVersion":{"groupVersion":"stable.example.com/v1","version":"v1"}})"));
}

TEST_CASE("custom kinds without a CustomResourceDefinition are served as their objects were written",
          "[serve][catalog]") {
  SimCluster cluster("mgmt", "v1.21.6", [] { return 0; });
  auto machine = [](const std::string& version, const std::string& name) {
    return Json{{"apiVersion", "cluster.x-k8s.io/" + version}, {"kind", "Machine"},
                {"metadata", {{"namespace", "default"}, {"name", name}}}};
  };
  cluster.store().create(machine("v1alpha4", "m-1"));
  cluster.store().create(machine("v1beta1", "m-2"));
  cluster.store().create(Json{{"apiVersion", "workspaces.example.com/v1"}, {"kind", "Policy"},
                              {"metadata", {{"name", "global"}}}});
  ResourceCatalog catalog(cluster);
  for (const char* version : {"v1alpha4", "v1beta1"}) {
    const auto* machines = catalog.find("cluster.x-k8s.io", version, "machines");
    REQUIRE(machines != nullptr);
    CHECK(machines->kind == "Machine");
    CHECK(machines->namespaced);
    CHECK(machines->custom);
  }
  CHECK(catalog.find("cluster.x-k8s.io", "v1", "machines") == nullptr);
  auto group = catalog.group("cluster.x-k8s.io");
  REQUIRE(group.has_value());
  CHECK((*group)["preferredVersion"]["version"] == "v1beta1");
  // client-go's plural guess; no namespace on the objects: cluster-scoped
  const auto* policies = catalog.find("workspaces.example.com", "v1", "policies");
  REQUIRE(policies != nullptr);
  CHECK_FALSE(policies->namespaced);
}

TEST_CASE("Kubernetes version priority", "[serve][catalog]") {
  using refit::serve::version_before;
  CHECK(version_before("v2", "v1"));
  CHECK(version_before("v1", "v2beta1"));
  CHECK(version_before("v1beta2", "v1beta1"));
  CHECK(version_before("v2beta1", "v1beta2"));
  CHECK(version_before("v1beta1", "v1alpha1"));
  CHECK(version_before("v1alpha1", "foo"));
  CHECK_FALSE(version_before("v1", "v1"));
}
