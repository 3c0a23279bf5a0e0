// The kinds refit knows without asking an API server's discovery endpoint, so that playbooks may
// leave apiVersion out of refs for them and the simulated world knows which are namespaced.
#pragma once

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace refit {

struct BuiltinKind {
  std::string_view kind;
  std::string_view api_version;  // the version a ref gets when it leaves apiVersion out
  std::string_view plural;       // the resource name in API paths: /apis/apps/v1/deployments
  bool namespaced;
};

// Raised when a ref without apiVersion names a kind that is not built in.
class UnknownKindError : public std::invalid_argument {
 public:
  explicit UnknownKindError(std::string_view kind);
};

// Every built-in kind, sorted by kind.
std::span<const BuiltinKind> builtin_kinds();

// nullptr when `kind` is not built in.
const BuiltinKind* find_builtin_kind(std::string_view kind);

// The built-in kind `kind` is most likely a typo of (two edits at most, a swap of neighbours counting
// one), within `group` when it is given; nullptr when none is that close, or `kind` is built in.
const BuiltinKind* closest_builtin_kind(std::string_view kind, std::optional<std::string_view> group = std::nullopt);

// "v1" -> "", "apps/v1" -> "apps".
std::string_view group_of(std::string_view api_version);

// "v1" -> "v1", "apps/v1beta2" -> "v1beta2".
std::string_view version_of(std::string_view api_version);

// `api_version` when it is not empty, else the built-in default for `kind`.
// Throws UnknownKindError ("kind Foo is not built in: give its apiVersion").
std::string_view resolve_api_version(std::string_view api_version, std::string_view kind);

// The group whose storage holds objects of `kind` served under `group`. Kubernetes served some kinds
// from two groups backed by one storage (extensions/v1beta1 Deployments are apps Deployments), and
// the removed-API checks of upgrade playbooks depend on finding such old objects under the new group.
std::string_view storage_group_of(std::string_view group, std::string_view kind);

// Whether `kind` in (storage) `group` is namespaced; nullopt when it is not a built-in kind of that
// group (custom resources: their CustomResourceDefinition decides).
std::optional<bool> builtin_is_namespaced(std::string_view group, std::string_view kind);

}  // namespace refit
