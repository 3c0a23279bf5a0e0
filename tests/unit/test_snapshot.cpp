#include <catch2/catch.hpp>

#include "cluster/forwarding_cluster.hpp"
#include "cluster/sim/sim_cluster.hpp"
#include "cluster/snapshot.hpp"

using refit::cluster::SnapshotKind;
using refit::cluster::SnapshotOptions;
using Json = nlohmann::json;

namespace {

refit::sim::SimCluster populated() {
  refit::sim::SimCluster c("demo", "v1.21.14-eks-18ef993", [] { return std::int64_t{0}; });
  auto keep = [](const Json&) {};
  c.create(Json::parse(R"({"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": "kube-system", "name": "creds",
      "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"token\":\"c2VjcmV0\"}}", "team": "a"},
      "managedFields": [{"manager": "kubectl"}]}, "data": {"token": "c2VjcmV0"}, "stringData": {"plain": "secret"}})"), keep);
  c.create(Json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": "kube-system",
      "name": "coredns", "uid": "u-1"}, "spec": {"replicas": 2}, "status": {"readyReplicas": 2}})"), keep);
  c.create(Json::parse(R"({"apiVersion": "v1", "kind": "Event", "metadata": {"namespace": "kube-system", "name": "e1"},
      "reason": "Pulled"})"), keep);
  return c;
}

const std::vector<SnapshotKind> kKinds = {{"v1", "Secret"}, {"apps/v1", "Deployment"}, {"v1", "Event"}};

}  // namespace

TEST_CASE("a snapshot is the cluster's objects as a fixture entry, without bookkeeping or secret values", "[snapshot]") {
  auto c = populated();
  std::vector<std::string> progress;
  SnapshotOptions options;
  options.progress = [&](const SnapshotKind& k, std::size_t n) { progress.push_back(k.kind + "=" + std::to_string(n)); };
  Json fixture = refit::cluster::snapshot_cluster(c, kKinds, options);
  CHECK(fixture["version"] == "v1.21.14-eks-18ef993");
  REQUIRE(fixture["objects"].size() == 2);  // the Event is history, not state
  CHECK(progress == std::vector<std::string>{"Deployment=1", "Secret=1"});
  const Json& deployment = fixture["objects"][0];
  CHECK(deployment["metadata"]["uid"] == "u-1");
  CHECK(deployment["status"]["readyReplicas"] == 2);
  CHECK_FALSE(deployment["metadata"].contains("resourceVersion"));
  CHECK_FALSE(deployment["metadata"].contains("generation"));
  const Json& secret = fixture["objects"][1];
  CHECK(secret["data"]["token"] == refit::cluster::kRedactedSecretValue);
  CHECK(secret["stringData"]["plain"] == "redacted by refit snapshot");
  CHECK(secret["metadata"]["annotations"] == Json{{"team", "a"}});
  CHECK_FALSE(secret["metadata"].contains("managedFields"));
  CHECK(fixture.dump().find("c2VjcmV0") == std::string::npos);
}

TEST_CASE("a snapshot kept in memory for a plan keeps secret values", "[snapshot]") {
  auto c = populated();
  SnapshotOptions options;
  options.keep_secret_values = true;
  Json fixture = refit::cluster::snapshot_cluster(c, kKinds, options);
  CHECK(fixture["objects"][1]["data"]["token"] == "c2VjcmV0");
}

TEST_CASE("events, metrics and endpoints are not worth copying", "[snapshot]") {
  using refit::cluster::worth_copying;
  CHECK_FALSE(worth_copying({"v1", "Event"}));
  CHECK_FALSE(worth_copying({"events.k8s.io/v1", "Event"}));
  CHECK_FALSE(worth_copying({"metrics.k8s.io/v1beta1", "NodeMetrics"}));
  CHECK_FALSE(worth_copying({"v1", "Endpoints"}));
  CHECK_FALSE(worth_copying({"discovery.k8s.io/v1", "EndpointSlice"}));
  CHECK(worth_copying({"v1", "Node"}));
  CHECK(worth_copying({"cluster.x-k8s.io/v1beta1", "Cluster"}));
}

namespace {

// A cluster that answers a list at the version asked for, as a real API server converts (the
// simulated cluster it stands on keeps each object's own apiVersion).
class ConvertingCluster final : public refit::cluster::ForwardingCluster {
 public:
  using ForwardingCluster::ForwardingCluster;
  void list(const refit::cluster::ListQuery& query, const std::function<void(const Json&)>& visit) override {
    inner().list(query, [&](const Json& object) {
      Json converted = object;
      converted["apiVersion"] = query.api_version;
      visit(converted);
    });
  }
};

}  // namespace

TEST_CASE("an object served under two groups is kept once, at the version of the group that stores it", "[snapshot]") {
  refit::sim::SimCluster sim("demo", "v1.21.14", [] { return std::int64_t{0}; });
  sim.create(Json::parse(R"({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"namespace": "shop",
      "name": "web", "uid": "u-web"}, "spec": {"ingressClassName": "nginx"}})"), [](const Json&) {});
  ConvertingCluster live(sim);
  // Each group at its preferred version, as discovery gives them; "extensions" sorts first.
  const std::vector<SnapshotKind> kinds = {{"networking.k8s.io/v1", "Ingress"}, {"extensions/v1beta1", "Ingress"}};
  Json objects = refit::cluster::snapshot_cluster(live, kinds, SnapshotOptions{})["objects"];
  REQUIRE(objects.size() == 1);
  CHECK(objects[0]["apiVersion"] == "networking.k8s.io/v1");
}
