// The Cluster interface: what playbooks can read and change in one Kubernetes cluster. It has two
// implementations: the simulated cluster (sim/) and the Kubernetes API backend (kube/).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cluster/sim/object_store.hpp"

namespace simdjson::dom { class element; }

namespace refit::cluster {

using Json = nlohmann::json;
using sim::ListQuery;
using sim::ObjectRef;

struct ServerVersion {
  std::string major;        // "1"
  std::string minor;        // "21"
  std::string git_version;  // "v1.21.14-eks-18ef993"
};

// Parses "v1.21.14-eks-18ef993" (or "1.21") into a ServerVersion; throws on anything else.
ServerVersion parse_server_version(const std::string& git_version);

// What an API server refused, with the HTTP status and the Status reason ("NotFound", "Conflict",
// "TooManyRequests", ...). The message says what and why, in words a user can act on; it never holds
// a credential. Both backends throw it (the simulated one maps its store errors to the same codes), so
// playbooks and the engine see one kind of failure.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string reason, const std::string& message)
      : std::runtime_error(message), status(status), reason(std::move(reason)) {}
  int status;          // 404, 409, 422, 429, 403, 500, ...; 0 when no response came (connection)
  std::string reason;  // metav1.StatusReason, e.g. "NotFound"; may be empty
};

// How a delete treats the object's dependents: "" (the server's default), "Foreground", "Background"
// or "Orphan".
struct DeleteOptions {
  std::string propagation;
};

// Server-side apply: the field manager is always "refit"; `force` takes fields other managers own.
struct ApplyOptions {
  bool force = false;
};

// One item of a list, in the form its backend holds it: a Json value, or the server's answer parsed
// (simdjson) but not converted. A caller that turns items into values of its own (the Lua binding
// makes tables) converts a parsed item directly, instead of through a Json tree that would be built
// only to be walked once: for a list of 10,000 Nodes that tree is most of the time.
struct ListItem {
  const Json* json = nullptr;                      // the object, apiVersion and kind set; or null, and:
  const simdjson::dom::element* parsed = nullptr;  // the item as the server sent it (valid during the visit)
  std::string_view api_version, kind;              // which the parsed item is to carry (lists leave them out)
};

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual const std::string& name() const = 0;
  virtual ServerVersion version() const = 0;
  // The kubeconfig context the cluster is reached through, as a playbook may see it (never a
  // credential): { context, cluster, server, namespace, exec = { command, args, env } }
  // (kube/kubeconfig_view.hpp). Product helpers read cloud identities from it (the EKS cluster
  // named by `aws eks get-token --cluster-name`). Null when there is none: a simulated cluster whose
  // fixture gives no `kubeconfig` (a snapshot's fixture keeps the one it was read through).
  virtual Json kubeconfig() const { return nullptr; }
  // Calls `visit` with the object and returns true, or returns false when it does not exist.
  virtual bool get(const ObjectRef& ref, const std::function<void(const Json&)>& visit) = 0;
  virtual void list(const ListQuery& query, const std::function<void(const Json&)>& visit) = 0;
  // As list(), handing over items as the backend has them. By default (the simulated world, whose
  // objects are Json values) every item is a Json value.
  virtual void list_items(const ListQuery& query, const std::function<void(const ListItem&)>& visit) {
    list(query, [&](const Json& object) { visit(ListItem{&object, nullptr, {}, {}}); });
  }
  // Writes call `stored` with the object as the server stored it (valid during the call only): a
  // caller that needs a field or two reads them there, instead of every write copying the object.
  using StoredVisitor = std::function<void(const Json&)>;
  virtual void create(Json object, const StoredVisitor& stored) = 0;
  // Server-side apply (the simulated world merges: maps recursively, named lists item by item).
  virtual void apply(Json object, const ApplyOptions& options, const StoredVisitor& stored) = 0;
  // A full update; a metadata.resourceVersion in `object` must be current (409 Conflict otherwise).
  virtual void replace(Json object, const StoredVisitor& stored) = 0;
  virtual void merge_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) = 0;
  virtual void json_patch(const ObjectRef& ref, const Json& ops, const StoredVisitor& stored) = 0;
  // A strategic-merge patch: as a merge patch, except that lists of named items (containers, volumes,
  // env, ports) merge item by item by name.
  virtual void strategic_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) = 0;
  virtual void patch_status(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) = 0;
  // Returns false when the object does not exist.
  virtual bool remove(const ObjectRef& ref, const DeleteOptions& options) = 0;
  // Evicts a pod through the eviction subresource. Throws ApiError: 429 when a PodDisruptionBudget
  // forbids it now (the message names the budget when the server does), 404 when the pod is gone.
  virtual void evict(const ObjectRef& pod) = 0;
};

}  // namespace refit::cluster
