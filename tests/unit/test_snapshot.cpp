#include <catch2/catch.hpp>

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

// An API server that serves one Ingress under both of its groups, converted to the version asked
// for, as a real one does (the simulated store keeps the version an object was written with).
class TwoGroupServer final : public refit::cluster::Cluster {
 public:
  const std::string& name() const override { return name_; }
  refit::cluster::ServerVersion version() const override { return refit::cluster::parse_server_version("v1.21.14"); }
  bool get(const refit::cluster::ObjectRef&, const std::function<void(const Json&)>&) override { return false; }
  void list(const refit::cluster::ListQuery& query, const std::function<void(const Json&)>& visit) override {
    visit(Json{{"apiVersion", query.api_version}, {"kind", query.kind},
               {"metadata", {{"namespace", "shop"}, {"name", "web"}, {"uid", "u-ingress"}}}});
  }
  void create(Json, const StoredVisitor&) override { refuse(); }
  void apply(Json, const refit::cluster::ApplyOptions&, const StoredVisitor&) override { refuse(); }
  void replace(Json, const StoredVisitor&) override { refuse(); }
  void merge_patch(const refit::cluster::ObjectRef&, const Json&, const StoredVisitor&) override { refuse(); }
  void json_patch(const refit::cluster::ObjectRef&, const Json&, const StoredVisitor&) override { refuse(); }
  void strategic_patch(const refit::cluster::ObjectRef&, const Json&, const StoredVisitor&) override { refuse(); }
  void patch_status(const refit::cluster::ObjectRef&, const Json&, const StoredVisitor&) override { refuse(); }
  bool remove(const refit::cluster::ObjectRef&, const refit::cluster::DeleteOptions&) override { refuse(); }
  void evict(const refit::cluster::ObjectRef&) override { refuse(); }

 private:
  [[noreturn]] static void refuse() { throw std::logic_error("a snapshot only reads"); }
  std::string name_ = "two-groups";
};

}  // namespace

TEST_CASE("an object served under two groups goes in once, as the group that is not extensions reads it",
          "[snapshot]") {
  TwoGroupServer server;
  // Sorted by name, extensions/v1beta1 would come first: read so, every Ingress would look like a
  // user of an API that Kubernetes 1.22 removes.
  Json fixture = refit::cluster::snapshot_cluster(
      server, {{"extensions/v1beta1", "Ingress"}, {"networking.k8s.io/v1", "Ingress"}}, SnapshotOptions{});
  REQUIRE(fixture["objects"].size() == 1);
  CHECK(fixture["objects"][0]["apiVersion"] == "networking.k8s.io/v1");
}
