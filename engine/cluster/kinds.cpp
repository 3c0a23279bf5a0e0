#include "cluster/kinds.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace refit {
namespace {

// Sorted by kind (checked below) so that lookups are a binary search: refs without apiVersion are
// resolved on every get/list of the simulated world.
constexpr std::array kBuiltinKinds = {
    BuiltinKind{"APIService", "apiregistration.k8s.io/v1", "apiservices", false},
    BuiltinKind{"CSIDriver", "storage.k8s.io/v1", "csidrivers", false},
    BuiltinKind{"CSINode", "storage.k8s.io/v1", "csinodes", false},
    BuiltinKind{"CertificateSigningRequest", "certificates.k8s.io/v1", "certificatesigningrequests", false},
    BuiltinKind{"ClusterRole", "rbac.authorization.k8s.io/v1", "clusterroles", false},
    BuiltinKind{"ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "clusterrolebindings", false},
    BuiltinKind{"ConfigMap", "v1", "configmaps", true},
    BuiltinKind{"ControllerRevision", "apps/v1", "controllerrevisions", true},
    BuiltinKind{"CronJob", "batch/v1", "cronjobs", true},
    BuiltinKind{"CustomResourceDefinition", "apiextensions.k8s.io/v1", "customresourcedefinitions", false},
    BuiltinKind{"DaemonSet", "apps/v1", "daemonsets", true},
    BuiltinKind{"Deployment", "apps/v1", "deployments", true},
    BuiltinKind{"EndpointSlice", "discovery.k8s.io/v1", "endpointslices", true},
    BuiltinKind{"Endpoints", "v1", "endpoints", true},
    BuiltinKind{"Event", "v1", "events", true},
    BuiltinKind{"HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers", true},
    BuiltinKind{"Ingress", "networking.k8s.io/v1", "ingresses", true},
    BuiltinKind{"IngressClass", "networking.k8s.io/v1", "ingressclasses", false},
    BuiltinKind{"Job", "batch/v1", "jobs", true},
    BuiltinKind{"Lease", "coordination.k8s.io/v1", "leases", true},
    BuiltinKind{"LimitRange", "v1", "limitranges", true},
    BuiltinKind{"MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1",
                "mutatingwebhookconfigurations", false},
    BuiltinKind{"Namespace", "v1", "namespaces", false},
    BuiltinKind{"NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", true},
    BuiltinKind{"Node", "v1", "nodes", false},
    BuiltinKind{"PersistentVolume", "v1", "persistentvolumes", false},
    BuiltinKind{"PersistentVolumeClaim", "v1", "persistentvolumeclaims", true},
    BuiltinKind{"Pod", "v1", "pods", true},
    BuiltinKind{"PodDisruptionBudget", "policy/v1", "poddisruptionbudgets", true},
    // Removed in Kubernetes 1.25; kept because upgrade playbooks must find and migrate it.
    BuiltinKind{"PodSecurityPolicy", "policy/v1beta1", "podsecuritypolicies", false},
    BuiltinKind{"PriorityClass", "scheduling.k8s.io/v1", "priorityclasses", false},
    BuiltinKind{"ReplicaSet", "apps/v1", "replicasets", true},
    BuiltinKind{"ResourceQuota", "v1", "resourcequotas", true},
    BuiltinKind{"Role", "rbac.authorization.k8s.io/v1", "roles", true},
    BuiltinKind{"RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings", true},
    BuiltinKind{"RuntimeClass", "node.k8s.io/v1", "runtimeclasses", false},
    BuiltinKind{"Secret", "v1", "secrets", true},
    BuiltinKind{"Service", "v1", "services", true},
    BuiltinKind{"ServiceAccount", "v1", "serviceaccounts", true},
    BuiltinKind{"StatefulSet", "apps/v1", "statefulsets", true},
    BuiltinKind{"StorageClass", "storage.k8s.io/v1", "storageclasses", false},
    BuiltinKind{"ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1",
                "validatingwebhookconfigurations", false},
    BuiltinKind{"VolumeAttachment", "storage.k8s.io/v1", "volumeattachments", false},
};
static_assert(std::ranges::is_sorted(kBuiltinKinds, {}, &BuiltinKind::kind),
              "kBuiltinKinds must stay sorted by kind");

struct StorageAlias {
  std::string_view served_group, kind, storage_group;
};

// Kinds once served from a second group over the same storage.
constexpr std::array kStorageAliases = {
    StorageAlias{"extensions", "DaemonSet", "apps"},
    StorageAlias{"extensions", "Deployment", "apps"},
    StorageAlias{"extensions", "ReplicaSet", "apps"},
    StorageAlias{"extensions", "Ingress", "networking.k8s.io"},
    StorageAlias{"extensions", "NetworkPolicy", "networking.k8s.io"},
    StorageAlias{"extensions", "PodSecurityPolicy", "policy"},
    StorageAlias{"events.k8s.io", "Event", ""},
};

}  // namespace

namespace {

// Edit distance with a swap of neighbours as one edit ("Deploymnet" is one from "Deployment").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::string unknown_kind_message(std::string_view kind) {
  std::string msg = "kind " + std::string(kind) + " is not built in: give its apiVersion";
  if (const BuiltinKind* close = closest_builtin_kind(kind)) msg += " (or did you mean " + std::string(close->kind) + "?)";
  return msg;
}

}  // namespace

UnknownKindError::UnknownKindError(std::string_view kind) : std::invalid_argument(unknown_kind_message(kind)) {}

const BuiltinKind* closest_builtin_kind(std::string_view kind, std::optional<std::string_view> group) {
  if (find_builtin_kind(kind) != nullptr) return nullptr;
  const BuiltinKind* best = nullptr;
  std::size_t best_distance = kind.size() >= 6 ? 3 : 2;  // short names: one edit at most
  for (const BuiltinKind& candidate : builtin_kinds()) {
    if (group && group_of(candidate.api_version) != *group) continue;
    std::size_t distance = edit_distance(kind, candidate.kind);
    if (distance < best_distance) {
      best = &candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::span<const BuiltinKind> builtin_kinds() { return kBuiltinKinds; }

const BuiltinKind* find_builtin_kind(std::string_view kind) {
  auto it = std::ranges::lower_bound(kBuiltinKinds, kind, {}, &BuiltinKind::kind);
  return it != kBuiltinKinds.end() && it->kind == kind ? &*it : nullptr;
}

std::string_view group_of(std::string_view api_version) {
  auto slash = api_version.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
}

std::string_view version_of(std::string_view api_version) {
  auto slash = api_version.rfind('/');
  return slash == std::string_view::npos ? api_version : api_version.substr(slash + 1);
}

std::string_view resolve_api_version(std::string_view api_version, std::string_view kind) {
  if (!api_version.empty()) return api_version;
  if (const BuiltinKind* builtin = find_builtin_kind(kind)) return builtin->api_version;
  throw UnknownKindError(kind);
}

std::string_view storage_group_of(std::string_view group, std::string_view kind) {
  for (const StorageAlias& alias : kStorageAliases) {
    if (alias.served_group == group && alias.kind == kind) return alias.storage_group;
  }
  return group;
}

std::optional<bool> builtin_is_namespaced(std::string_view group, std::string_view kind) {
  const BuiltinKind* builtin = find_builtin_kind(kind);
  if (builtin == nullptr || group_of(builtin->api_version) != group) return std::nullopt;
  return builtin->namespaced;
}

}  // namespace refit
