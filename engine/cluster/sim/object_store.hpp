// The objects of one simulated cluster, with the API server's rules for identity, versions,
// generations and patches, and the indexes that keep a 10,000-object world fast.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace refit::sim {

using Json = nlohmann::json;

// api_version may be empty for built-in kinds (resolved through cluster/kinds.hpp). ns is ignored for
// cluster-scoped kinds.
struct ObjectRef {
  std::string api_version, kind, ns, name;
};

// ns empty = all namespaces. Selectors use the syntax of cluster/selectors.hpp.
struct ListQuery {
  std::string api_version, kind, ns, label_selector, field_selector;
};

enum class ChangeType { Added, Modified, Deleted };

// "ADDED", "MODIFIED", "DELETED", as in Kubernetes watch events.
std::string_view to_string(ChangeType type);

// `object` is the stored object after the change (for Deleted: its last state); `old` the object
// before a modification, nullptr otherwise. Both are valid during the callback only, and only until
// the observer itself writes to the store. `status_only`: a patch_status, which changed nothing but
// .status (watchers of spec changes can skip it without converting the object).
struct Change {
  ChangeType type;
  const Json& object;
  const Json* old;
  bool status_only = false;
};

class StoreError : public std::runtime_error {
 public:
  enum class Code { NotFound, AlreadyExists, Invalid, Conflict };
  StoreError(Code error_code, const std::string& message) : std::runtime_error(message), code(error_code) {}
  Code code;
};

// Identity is (API group, kind, namespace, name): the version is not part of it, so an Ingress created
// as networking.k8s.io/v1beta1 is found under networking.k8s.io/v1 and keeps the apiVersion it was
// written with, which is how playbooks find objects of removed APIs. Kinds once served from two groups
// share storage (extensions/v1beta1 Deployments are apps Deployments; see storage_group_of).
//
// Server-managed metadata: create sets uid (UUID-shaped, from a per-store counter, unless the object
// brings one, as snapshots of live clusters do), creationTimestamp (unless given), generation = 1;
// every write sets resourceVersion from a per-store counter. A write that changes .spec increments
// generation. A write that changes nothing is not a write: no new resourceVersion, no observer call.
//
// .status belongs to the status writer: apply, replace, merge_patch and json_patch keep the stored
// status whatever they say about it (as the API server does for kinds with a status subresource);
// patch_status changes only .status; create stores the status it is given (fixtures need it).
//
// Errors are StoreError naming the object (`Deployment kube-system/coredns not found`). A ref without
// apiVersion for a kind that is not built in throws refit::UnknownKindError; bad selectors throw
// refit::SelectorError.
//
// References returned by get/create/apply/... point into the store: valid until that object is next
// written or removed. Not thread-safe (one world, one thread).
class ObjectStore {
 public:
  // `now_ms` reads the virtual clock, for creationTimestamp.
  explicit ObjectStore(std::function<std::int64_t()> now_ms);
  ~ObjectStore();
  ObjectStore(ObjectStore&&) noexcept;
  ObjectStore& operator=(ObjectStore&&) noexcept;

  // nullptr if absent. O(log n).
  const Json* get(const ObjectRef& ref) const;

  // Calls `visit` for every match, ordered by namespace then name. Reads only the kind's objects, only
  // the asked namespace, and only the node's objects for `spec.nodeName=X`. `visit` must not write to
  // the store.
  void list(const ListQuery& query, const std::function<void(const Json&)>& visit) const;
  // The same, starting after the object (after_ns, after_name) where the walk is in namespace/name
  // order (a page of a paged list), until `visit` returns false: a page that is full, and knows how
  // many items follow, need not walk the rest of the kind. Objects before it may still be visited by
  // the index walks (node, label), so the caller skips those itself.
  void walk_after(const ListQuery& query, std::string_view after_ns, std::string_view after_name,
                  const std::function<bool(const Json&)>& visit) const;

  // AlreadyExists; Invalid when apiVersion, kind or metadata.name is missing, or metadata.namespace
  // is missing for a namespaced kind. A namespace given for a cluster-scoped kind is dropped.
  const Json& create(Json obj);

  // Creates, or merges into the stored object: maps merge recursively, null deletes a field, lists
  // whose items are all objects with a "name" merge item by item (stored order first, new items
  // appended), other lists and scalars replace. The apiVersion given becomes the stored one (this is
  // how a manifest moves off a deprecated version). A metadata.resourceVersion given must be current.
  const Json& apply(Json obj);

  // RFC 7386 merge patch. Conflict when the patch carries a stale metadata.resourceVersion.
  const Json& merge_patch(const ObjectRef& ref, const Json& patch);

  // RFC 6902 JSON patch; a failing operation makes the whole patch Invalid, naming the operation's index.
  const Json& json_patch(const ObjectRef& ref, const Json& operations);

  // Merge patch of .status only.
  const Json& patch_status(const ObjectRef& ref, const Json& status_merge_patch);

  // Full update of an existing object (NotFound); Conflict when metadata.resourceVersion is set and stale.
  const Json& replace(Json obj);

  // NotFound when absent.
  void remove(const ObjectRef& ref);

  // Called after every change, once the store is consistent again; an exception from it propagates to
  // the writer (the write stays done). One observer; setting another replaces it. When `wants_old`
  // is false, Change::old is null for modifications, which lets status patches update in place
  // instead of copying the whole object.
  void set_observer(std::function<void(const Change&)> observer, bool wants_old = true);

  // {"<group>/<Kind>": [objects sorted by namespace/name], ...}, the core group written as "core";
  // kinds without objects are left out. Deterministic.
  Json dump() const;
  // The same objects in the same order, visited one by one ("<group>/<Kind>", object) without a copy.
  void for_each(const std::function<void(const std::string& kind, const Json& object)>& visit) const;

  std::size_t size() const;

  // The kinds that have objects: their API (storage) group and kind, in group then kind order. For
  // `refit sim serve`'s discovery, which must also serve custom kinds that have no
  // CustomResourceDefinition in the store.
  struct KindEntry {
    std::string group, kind;
    std::size_t count;
  };
  std::vector<KindEntry> kinds() const;

  // The resourceVersion of the latest write (every write, deletions included, takes the next number),
  // or 0 before the first: a list's resourceVersion, from which a watch starts.
  std::uint64_t resource_version() const;

  // Dry run (the API server's dryRun=All): while on, every write checks and computes what it would
  // store and returns that, but stores nothing, takes no resourceVersion and calls no observer. The
  // returned reference is valid until the next write. A dry-run create leaves resourceVersion out,
  // as the API server does; a dry-run update keeps the stored one.
  void set_dry_run(bool on);
  bool dry_run() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace refit::sim
