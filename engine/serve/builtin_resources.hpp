// What the served API says about the built-in kinds beyond cluster/kinds.hpp: the older API versions
// a Kubernetes release still serves (until the release that removed them), the short names and
// categories kubectl resolves (`kubectl get deploy`, `kubectl get all`), and which kinds have a status
// subresource.
#pragma once
#include <span>
#include <string_view>
#include <vector>

namespace refit::serve {

// A version of a built-in kind served besides its default one (kinds.hpp), up to but excluding the
// Kubernetes minor `removed_in` (0: still served).
struct ExtraVersion {
  std::string_view kind;
  std::string_view group;
  std::string_view version;
  int removed_in;
};

std::span<const ExtraVersion> extra_versions();

// kubectl's short names for a built-in kind ("Deployment" -> {"deploy"}); empty when it has none.
std::vector<std::string_view> short_names_of(std::string_view kind);

// Whether `kubectl get all` lists the kind (category "all").
bool in_category_all(std::string_view kind);

// Whether the API server gives the kind a status subresource (<plural>/status).
bool has_status_subresource(std::string_view kind);

// Whether the kind has a scale subresource (<plural>/scale): Deployments, ReplicaSets, StatefulSets.
bool has_scale_subresource(std::string_view kind);

}  // namespace refit::serve
