#include "cluster/snapshot.hpp"

#include "cluster/kinds.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace refit::cluster {

// base64("redacted by refit snapshot"): still valid Secret data, and plainly not the real value.
const char* const kRedactedSecretValue = "cmVkYWN0ZWQgYnkgcmVmaXQgc25hcHNob3Q=";

bool worth_copying(const SnapshotKind& k) {
  std::string_view group = group_of(k.api_version);
  if (k.kind == "Event") return false;  // core v1 and events.k8s.io
  if (group == "metrics.k8s.io") return false;
  if (k.kind == "Endpoints" || k.kind == "EndpointSlice") return false;
  // Reviews and other virtual kinds cannot be listed; discovery already leaves them out.
  return true;
}

namespace {

void strip_bookkeeping(nlohmann::json& obj) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return;
  for (const char* field : {"managedFields", "resourceVersion", "generation", "selfLink"}) md->erase(field);
}

void redact_secret(nlohmann::json& obj) {
  for (const char* field : {"data", "stringData"}) {
    auto values = obj.find(field);
    if (values == obj.end() || !values->is_object()) continue;
    for (auto& v : *values) v = field == std::string_view("data") ? kRedactedSecretValue : "redacted by refit snapshot";
  }
  // kubectl apply keeps the last applied manifest, values and all, in an annotation.
  auto md = obj.find("metadata");
  if (md == obj.end()) return;
  auto annotations = md->find("annotations");
  if (annotations != md->end() && annotations->is_object()) {
    annotations->erase("kubectl.kubernetes.io/last-applied-configuration");
  }
}

}  // namespace

nlohmann::json snapshot_cluster(Cluster& cluster, const std::vector<SnapshotKind>& kinds, const SnapshotOptions& options) {
  nlohmann::json objects = nlohmann::json::array();
  // One object may be served under two groups (an Ingress as extensions/v1beta1 and as
  // networking.k8s.io/v1): it is one object, with one uid, and goes in once, as the group that is
  // not the legacy `extensions` reads it. Read as extensions/v1beta1, every Ingress of a live cluster
  // would look like a user of an API that Kubernetes 1.22 removes, and stop a plan to 1.22.
  auto legacy = [](const SnapshotKind& k) { return group_of(k.api_version) == "extensions"; };
  std::vector<SnapshotKind> sorted = kinds;
  std::sort(sorted.begin(), sorted.end(), [&legacy](const SnapshotKind& a, const SnapshotKind& b) {
    return std::make_tuple(a.kind, legacy(a), a.api_version) < std::make_tuple(b.kind, legacy(b), b.api_version);
  });
  std::set<std::string> seen_uids;
  for (const auto& k : sorted) {
    if (!worth_copying(k)) continue;
    ListQuery query;
    query.api_version = k.api_version;
    query.kind = k.kind;
    std::size_t before = objects.size();
    cluster.list(query, [&](const Json& obj) {
      const Json* uid = obj.contains("metadata") ? &obj["metadata"] : nullptr;
      if (uid != nullptr && uid->contains("uid") && (*uid)["uid"].is_string() &&
          !seen_uids.insert((*uid)["uid"].get<std::string>()).second) {
        return;
      }
      nlohmann::json copy = obj;
      strip_bookkeeping(copy);
      if (k.kind == "Secret" && k.api_version == "v1" && !options.keep_secret_values) redact_secret(copy);
      objects.push_back(std::move(copy));
    });
    if (options.progress) options.progress(k, objects.size() - before);
  }
  return nlohmann::json{{"version", cluster.version().git_version}, {"objects", std::move(objects)}};
}

}  // namespace refit::cluster
