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
  // networking.k8s.io/v1): it is one object, with one uid, and goes in once, at the version of the
  // group that stores it. A real API server answers it at whichever version is asked; kept at the
  // old group's, it would look written at an API that Kubernetes removes.
  auto old_group = [](const SnapshotKind& k) {
    std::string_view group = group_of(k.api_version);
    return storage_group_of(group, k.kind) != group;
  };
  std::vector<SnapshotKind> sorted = kinds;
  std::sort(sorted.begin(), sorted.end(), [&old_group](const SnapshotKind& a, const SnapshotKind& b) {
    return std::tuple(std::string_view(a.kind), old_group(a), std::string_view(a.api_version)) <
           std::tuple(std::string_view(b.kind), old_group(b), std::string_view(b.api_version));
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
