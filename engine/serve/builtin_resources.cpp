#include "serve/builtin_resources.hpp"

#include <algorithm>
#include <array>

namespace refit::serve {
namespace {

// Kubernetes' deprecated API versions of the built-in kinds, with the minor that stopped serving
// them (the deprecation guide). Upgrade playbooks look for objects under them before an upgrade.
constexpr std::array kExtraVersions = {
    ExtraVersion{"DaemonSet", "extensions", "v1beta1", 16},
    ExtraVersion{"Deployment", "extensions", "v1beta1", 16},
    ExtraVersion{"ReplicaSet", "extensions", "v1beta1", 16},
    ExtraVersion{"NetworkPolicy", "extensions", "v1beta1", 16},
    ExtraVersion{"PodSecurityPolicy", "extensions", "v1beta1", 16},
    ExtraVersion{"Ingress", "extensions", "v1beta1", 22},
    ExtraVersion{"Deployment", "apps", "v1beta1", 16},
    ExtraVersion{"StatefulSet", "apps", "v1beta1", 16},
    ExtraVersion{"ControllerRevision", "apps", "v1beta1", 16},
    ExtraVersion{"DaemonSet", "apps", "v1beta2", 16},
    ExtraVersion{"Deployment", "apps", "v1beta2", 16},
    ExtraVersion{"ReplicaSet", "apps", "v1beta2", 16},
    ExtraVersion{"StatefulSet", "apps", "v1beta2", 16},
    ExtraVersion{"ControllerRevision", "apps", "v1beta2", 16},
    ExtraVersion{"Ingress", "networking.k8s.io", "v1beta1", 22},
    ExtraVersion{"IngressClass", "networking.k8s.io", "v1beta1", 22},
    ExtraVersion{"CustomResourceDefinition", "apiextensions.k8s.io", "v1beta1", 22},
    ExtraVersion{"MutatingWebhookConfiguration", "admissionregistration.k8s.io", "v1beta1", 22},
    ExtraVersion{"ValidatingWebhookConfiguration", "admissionregistration.k8s.io", "v1beta1", 22},
    ExtraVersion{"ClusterRole", "rbac.authorization.k8s.io", "v1beta1", 22},
    ExtraVersion{"ClusterRoleBinding", "rbac.authorization.k8s.io", "v1beta1", 22},
    ExtraVersion{"Role", "rbac.authorization.k8s.io", "v1beta1", 22},
    ExtraVersion{"RoleBinding", "rbac.authorization.k8s.io", "v1beta1", 22},
    ExtraVersion{"CSIDriver", "storage.k8s.io", "v1beta1", 22},
    ExtraVersion{"CSINode", "storage.k8s.io", "v1beta1", 22},
    ExtraVersion{"StorageClass", "storage.k8s.io", "v1beta1", 22},
    ExtraVersion{"VolumeAttachment", "storage.k8s.io", "v1beta1", 22},
    ExtraVersion{"PriorityClass", "scheduling.k8s.io", "v1beta1", 22},
    ExtraVersion{"Lease", "coordination.k8s.io", "v1beta1", 22},
    ExtraVersion{"CertificateSigningRequest", "certificates.k8s.io", "v1beta1", 22},
    ExtraVersion{"APIService", "apiregistration.k8s.io", "v1beta1", 22},
    ExtraVersion{"PodDisruptionBudget", "policy", "v1beta1", 25},
    ExtraVersion{"CronJob", "batch", "v1beta1", 25},
    ExtraVersion{"EndpointSlice", "discovery.k8s.io", "v1beta1", 25},
    ExtraVersion{"RuntimeClass", "node.k8s.io", "v1beta1", 25},
    ExtraVersion{"Event", "events.k8s.io", "v1beta1", 25},
    ExtraVersion{"Event", "events.k8s.io", "v1", 0},
    ExtraVersion{"HorizontalPodAutoscaler", "autoscaling", "v1", 0},
    ExtraVersion{"HorizontalPodAutoscaler", "autoscaling", "v2beta1", 25},
    ExtraVersion{"HorizontalPodAutoscaler", "autoscaling", "v2beta2", 26},
};

struct ShortNames {
  std::string_view kind;
  std::array<std::string_view, 2> names;
};

constexpr std::array kShortNames = {
    ShortNames{"CertificateSigningRequest", {"csr"}},
    ShortNames{"ConfigMap", {"cm"}},
    ShortNames{"CronJob", {"cj"}},
    ShortNames{"CustomResourceDefinition", {"crd", "crds"}},
    ShortNames{"DaemonSet", {"ds"}},
    ShortNames{"Deployment", {"deploy"}},
    ShortNames{"Endpoints", {"ep"}},
    ShortNames{"Event", {"ev"}},
    ShortNames{"HorizontalPodAutoscaler", {"hpa"}},
    ShortNames{"Ingress", {"ing"}},
    ShortNames{"LimitRange", {"limits"}},
    ShortNames{"Namespace", {"ns"}},
    ShortNames{"NetworkPolicy", {"netpol"}},
    ShortNames{"Node", {"no"}},
    ShortNames{"PersistentVolume", {"pv"}},
    ShortNames{"PersistentVolumeClaim", {"pvc"}},
    ShortNames{"Pod", {"po"}},
    ShortNames{"PodDisruptionBudget", {"pdb"}},
    ShortNames{"PodSecurityPolicy", {"psp"}},
    ShortNames{"PriorityClass", {"pc"}},
    ShortNames{"ReplicaSet", {"rs"}},
    ShortNames{"ResourceQuota", {"quota"}},
    ShortNames{"Service", {"svc"}},
    ShortNames{"ServiceAccount", {"sa"}},
    ShortNames{"StatefulSet", {"sts"}},
    ShortNames{"StorageClass", {"sc"}},
};

constexpr std::array<std::string_view, 9> kCategoryAll = {
    "CronJob", "DaemonSet", "Deployment", "HorizontalPodAutoscaler", "Job", "Pod", "ReplicaSet", "Service", "StatefulSet",
};

constexpr std::array<std::string_view, 20> kWithStatus = {
    "APIService", "CertificateSigningRequest", "CronJob", "CustomResourceDefinition", "DaemonSet", "Deployment",
    "HorizontalPodAutoscaler", "Ingress", "Job", "Namespace", "Node", "PersistentVolume", "PersistentVolumeClaim",
    "Pod", "PodDisruptionBudget", "ReplicaSet", "ResourceQuota", "Service", "StatefulSet", "VolumeAttachment",
};

bool contains(std::span<const std::string_view> list, std::string_view kind) {
  return std::find(list.begin(), list.end(), kind) != list.end();
}

}  // namespace

std::span<const ExtraVersion> extra_versions() { return kExtraVersions; }

std::vector<std::string_view> short_names_of(std::string_view kind) {
  std::vector<std::string_view> out;
  for (const ShortNames& entry : kShortNames) {
    if (entry.kind != kind) continue;
    for (std::string_view name : entry.names)
      if (!name.empty()) out.push_back(name);
  }
  return out;
}

bool in_category_all(std::string_view kind) { return contains(kCategoryAll, kind); }

bool has_status_subresource(std::string_view kind) { return contains(kWithStatus, kind); }

bool has_scale_subresource(std::string_view kind) {
  return kind == "Deployment" || kind == "ReplicaSet" || kind == "StatefulSet";
}

}  // namespace refit::serve
