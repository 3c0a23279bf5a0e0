#include "cluster/sim/object_store.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "cluster/kinds.hpp"
#include "cluster/selectors.hpp"
#include "cluster/sim/virtual_clock.hpp"
#include "data/json_errors.hpp"

namespace refit::sim {
namespace {

using Code = StoreError::Code;

[[noreturn]] void fail(Code code, const std::string& message) { throw StoreError(code, message); }

// Keys compare as (first, second) pairs of string views, so lookups with views allocate nothing.
template <class Key>
struct ViewLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return Key::view(a) < Key::view(b);
  }
};

using ViewPair = std::pair<std::string_view, std::string_view>;

struct KindKey {
  std::string group, kind;
  static ViewPair view(const KindKey& k) { return {k.group, k.kind}; }
  static ViewPair view(const ViewPair& k) { return k; }
};

struct ObjectKey {
  std::string ns, name;
  static ViewPair view(const ObjectKey& k) { return {k.ns, k.name}; }
  static ViewPair view(const ViewPair& k) { return k; }
};

// An object and a copy of its labels: label selectors then read a few compact nodes instead of
// walking each object's metadata (cache misses that made scans of 20,000 pods 15 times slower).
struct StoredObject {
  Json object;
  Json labels;
};

using Objects = std::map<ObjectKey, StoredObject, ViewLess<ObjectKey>>;

struct ByObjectKey {
  bool operator()(Objects::const_iterator a, Objects::const_iterator b) const {
    return ObjectKey::view(a->first) < ObjectKey::view(b->first);
  }
};

using ObjectSet = std::set<Objects::const_iterator, ByObjectKey>;

// The objects of one kind. Pods are listed per node on every drain and every node-readiness check,
// hence the index by spec.nodeName (kept for any kind that has one). Controllers and playbooks list
// by label equality (a node pool's Machines among the 10,000 of a fleet's management cluster, a
// Deployment's pods), hence the index by "key=value" label.
struct KindObjects {
  Objects objects;
  std::map<std::string, ObjectSet, std::less<>> by_node_name;
  std::map<std::string, ObjectSet, std::less<>> by_label;
  bool holds_crds = false;  // CustomResourceDefinitions decide the scope of custom kinds
};

enum class Scope { Namespaced, Cluster, Unknown };  // Unknown: a custom kind without a stored CRD

// Where an object lives, as views into the caller's strings (or static data).
struct Location {
  std::string_view group, kind, ns, name;
  Scope scope;
};

std::string describe(std::string_view kind, std::string_view ns, std::string_view name) {
  return ns.empty() ? fmt::format("{} {}", kind, name) : fmt::format("{} {}/{}", kind, ns, name);
}

std::string describe(const Location& at) { return describe(at.kind, at.ns, at.name); }

const Json* member(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string_view string_member(const Json& object, std::string_view key) {
  const Json* value = member(object, key);
  return value != nullptr && value->is_string() ? std::string_view(value->get_ref<const std::string&>())
                                                : std::string_view();
}

const Json& metadata_of(const Json& object) {
  static const Json kNone;
  const Json* metadata = member(object, "metadata");
  return metadata != nullptr ? *metadata : kNone;
}

const Json& labels_of(const Json& object) {
  static const Json kNone;
  const Json* labels = member(metadata_of(object), "labels");
  return labels != nullptr ? *labels : kNone;
}

const Json& spec_of(const Json& object) {
  static const Json kNone;
  const Json* spec = member(object, "spec");
  return spec != nullptr ? *spec : kNone;
}

std::string node_name_of(const Json& object) { return field_value(object, "spec.nodeName"); }

// ---------------------------------------------------------------------------------------------------
// apply(): a server-side-apply-like merge.

void merge_applied_object(Json& target, const Json& applied);

// True for [{name: ...}, ...]: such lists (containers, volumes, env, ports) merge item by item.
bool is_named_list(const Json& list) {
  if (!list.is_array()) return false;
  for (const Json& item : list) {
    const Json* name = member(item, "name");
    if (name == nullptr || !name->is_string()) return false;
  }
  return true;
}

void merge_applied_value(Json& target, const Json& applied) {
  if (applied.is_object()) {
    if (!target.is_object()) target = Json::object();
    merge_applied_object(target, applied);
  } else if (!applied.empty() && is_named_list(applied) && is_named_list(target)) {
    for (const Json& item : applied) {
      std::string_view name = string_member(item, "name");
      auto same_name = [&](const Json& existing) { return string_member(existing, "name") == name; };
      auto it = std::find_if(target.begin(), target.end(), same_name);
      if (it != target.end()) {
        merge_applied_object(*it, item);
      } else {
        Json added = Json::object();
        merge_applied_object(added, item);
        target.push_back(std::move(added));
      }
    }
  } else {
    target = applied;
  }
}

void merge_applied_object(Json& target, const Json& applied) {
  for (const auto& [key, value] : applied.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else {
      merge_applied_value(target[key], value);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
using data::json_error_reason;  // json_patch()'s failures, in words for users

std::string describe_operation(const Json& op) {
  std::string_view name = string_member(op, "op"), path = string_member(op, "path");
  return name.empty() ? op.dump() : fmt::format("{} {}", name, path);
}

std::string test_failure_reason(const Json& document, const Json& op) {
  std::string_view path = string_member(op, "path");
  const Json* expected = member(op, "value");
  try {
    const Json& actual = document.at(Json::json_pointer(std::string(path)));
    return fmt::format("{} is {}, not {}", path, actual.dump(), expected != nullptr ? expected->dump() : "null");
  } catch (const Json::exception&) {
    return fmt::format("{} does not exist", path);
  }
}

}  // namespace

std::string_view to_string(ChangeType type) {
  switch (type) {
    case ChangeType::Added: return "ADDED";
    case ChangeType::Modified: return "MODIFIED";
    case ChangeType::Deleted: return "DELETED";
  }
  return "UNKNOWN";
}

// ---------------------------------------------------------------------------------------------------

struct ObjectStore::Impl {
  std::function<std::int64_t()> now_ms;
  std::function<void(const Change&)> observer;
  bool observer_wants_old = true;
  std::map<KindKey, KindObjects, ViewLess<KindKey>> kinds;
  // The scope of custom kinds, from the CustomResourceDefinitions in this store.
  std::map<KindKey, bool, ViewLess<KindKey>> crd_namespaced;
  std::uint64_t last_resource_version = 0;
  std::uint64_t last_uid = 0;
  std::size_t size = 0;
  bool dry_run = false;
  Json dry_run_result;  // what the last dry-run write would have stored

  // --- identity ---

  Scope scope_of(std::string_view group, std::string_view kind) const {
    if (auto namespaced = builtin_is_namespaced(group, kind)) return *namespaced ? Scope::Namespaced : Scope::Cluster;
    auto crd = crd_namespaced.find(ViewPair{group, kind});
    if (crd == crd_namespaced.end()) return Scope::Unknown;
    return crd->second ? Scope::Namespaced : Scope::Cluster;
  }

  Location locate(const ObjectRef& ref) const {
    if (ref.kind.empty()) fail(Code::Invalid, fmt::format("a ref needs a kind (name \"{}\")", ref.name));
    std::string_view group = storage_group_of(group_of(resolve_api_version(ref.api_version, ref.kind)), ref.kind);
    Location at{group, ref.kind, ref.ns, ref.name, scope_of(group, ref.kind)};
    if (at.scope == Scope::Cluster) at.ns = {};
    if (at.name.empty()) fail(Code::Invalid, fmt::format("a ref to a {} needs a name", ref.kind));
    if (at.scope == Scope::Namespaced && at.ns.empty()) {
      fail(Code::Invalid, fmt::format("{} {}: a namespace is required ({} is namespaced)", at.kind, at.name, at.kind));
    }
    return at;
  }

  // Checks the fields that make an object's identity, drops the namespace of a cluster-scoped kind,
  // and returns where the object lives (views into `obj`).
  Location locate(Json& obj) const {
    if (!obj.is_object()) fail(Code::Invalid, fmt::format("an object must be a JSON object, got {}", obj.type_name()));
    std::string_view kind = string_member(obj, "kind");
    std::string_view name = string_member(metadata_of(obj), "name");
    std::string_view label = kind.empty() ? "object" : kind;
    if (kind.empty()) fail(Code::Invalid, fmt::format("object {}: kind is required", name));
    std::string_view api_version = string_member(obj, "apiVersion");
    if (api_version.empty()) fail(Code::Invalid, fmt::format("{} {}: apiVersion is required", label, name));
    if (name.empty()) fail(Code::Invalid, fmt::format("{}: metadata.name is required", kind));
    std::string_view group = storage_group_of(group_of(api_version), kind);
    // A near-miss of a built-in kind in its own group is a typo, not a custom resource.
    if (scope_of(group, kind) == Scope::Unknown) {
      if (const BuiltinKind* close = closest_builtin_kind(kind, group_of(api_version))) {
        fail(Code::Invalid, fmt::format("{} {}: {} has no kind {} (did you mean {}?)", kind, name, api_version, kind,
                                        close->kind));
      }
    }
    Location at{group, kind, string_member(metadata_of(obj), "namespace"), name, scope_of(group, kind)};
    if (const Json* ns = member(metadata_of(obj), "namespace"); ns != nullptr && !ns->is_string() && !ns->is_null()) {
      fail(Code::Invalid, fmt::format("{} {}: metadata.namespace must be a string", kind, name));
    }
    if (at.scope == Scope::Cluster) {
      obj["metadata"].erase("namespace");
      at.ns = {};
    } else if (at.scope == Scope::Namespaced && at.ns.empty()) {
      fail(Code::Invalid, fmt::format("{} {}: metadata.namespace is required ({} is namespaced)", kind, name, kind));
    }
    return at;
  }

  // After a patch: the object must still be the one it was, except for the version of its apiVersion.
  void check_identity_kept(Json& updated, const Location& at, std::string_view how) const {
    std::string what = describe(at);
    if (!updated.is_object()) fail(Code::Invalid, fmt::format("{}: the {} must leave an object", what, how));
    if (string_member(updated, "kind") != at.kind) {
      fail(Code::Invalid, fmt::format("{}: a {} may not change kind", what, how));
    }
    std::string_view api_version = string_member(updated, "apiVersion");
    if (api_version.empty() || storage_group_of(group_of(api_version), at.kind) != at.group) {
      fail(Code::Invalid, fmt::format("{}: a {} may not change the API group (apiVersion {})", what, how,
                                      member(updated, "apiVersion") ? updated["apiVersion"].dump() : "removed"));
    }
    Json& metadata = updated["metadata"];
    if (at.scope == Scope::Cluster && metadata.is_object()) metadata.erase("namespace");
    if (string_member(metadata, "name") != at.name) {
      fail(Code::Invalid, fmt::format("{}: a {} may not change metadata.name", what, how));
    }
    if (string_member(metadata, "namespace") != at.ns) {
      fail(Code::Invalid, fmt::format("{}: a {} may not change metadata.namespace", what, how));
    }
  }

  void check_resource_version(const Json& given, const Json& stored, const Location& at) const {
    std::string_view wanted = string_member(metadata_of(given), "resourceVersion");
    std::string_view current = string_member(metadata_of(stored), "resourceVersion");
    if (!wanted.empty() && wanted != current) {
      fail(Code::Conflict, fmt::format("{} has been modified: resourceVersion {} is stale, the stored object is at {}",
                                       describe(at), wanted, current));
    }
  }

  // --- lookup ---

  KindObjects* bucket(const Location& at) {
    auto it = kinds.find(ViewPair{at.group, at.kind});
    return it == kinds.end() ? nullptr : &it->second;
  }

  const KindObjects* bucket(const Location& at) const { return const_cast<Impl*>(this)->bucket(at); }

  std::pair<KindObjects*, Objects::iterator> find_existing(const Location& at) {
    KindObjects* objects = bucket(at);
    if (objects != nullptr) {
      auto it = objects->objects.find(ViewPair{at.ns, at.name});
      if (it != objects->objects.end()) return {objects, it};
    }
    fail(Code::NotFound, describe(at) + " not found");
  }

  // --- writes ---

  std::string next_resource_version() { return std::to_string(++last_resource_version); }

  void index(KindObjects& objects, Objects::const_iterator it) {
    std::string node = node_name_of(it->second.object);
    if (!node.empty()) objects.by_node_name[node].insert(it);
  }

  static std::string label_entry(std::string_view key, std::string_view value) {
    std::string entry;
    entry.reserve(key.size() + value.size() + 1);
    entry.append(key).append(1, '=').append(value);
    return entry;
  }

  void index_labels(KindObjects& objects, Objects::const_iterator it) {
    const Json& labels = it->second.labels;
    if (!labels.is_object()) return;
    for (const auto& [key, value] : labels.items()) {
      if (value.is_string()) objects.by_label[label_entry(key, value.get_ref<const std::string&>())].insert(it);
    }
  }

  void unindex_labels(KindObjects& objects, Objects::const_iterator it) {
    const Json& labels = it->second.labels;
    if (!labels.is_object()) return;
    for (const auto& [key, value] : labels.items()) {
      if (!value.is_string()) continue;
      auto entry = objects.by_label.find(label_entry(key, value.get_ref<const std::string&>()));
      if (entry == objects.by_label.end()) continue;
      entry->second.erase(it);
      if (entry->second.empty()) objects.by_label.erase(entry);
    }
  }

  void unindex(KindObjects& objects, Objects::const_iterator it, const std::string& node) {
    if (node.empty()) return;
    auto entry = objects.by_node_name.find(node);
    entry->second.erase(it);
    if (entry->second.empty()) objects.by_node_name.erase(entry);
  }

  // Keeps the scope of custom kinds in step with the stored CustomResourceDefinitions.
  void track_crd(const KindObjects& objects, const Json* before, const Json* after) {
    if (!objects.holds_crds) return;
    auto key_of = [](const Json& crd) {
      const Json& spec = spec_of(crd);
      const Json* names = member(spec, "names");
      return KindKey{std::string(string_member(spec, "group")),
                     std::string(names != nullptr ? string_member(*names, "kind") : std::string_view())};
    };
    if (before != nullptr) crd_namespaced.erase(key_of(*before));
    if (after != nullptr) {
      KindKey key = key_of(*after);
      if (!key.kind.empty()) crd_namespaced[key] = string_member(spec_of(*after), "scope") != "Cluster";
    }
  }

  void notify(ChangeType type, const Json& object, const Json* old, bool status_only = false) {
    if (observer) observer(Change{type, object, observer_wants_old ? old : nullptr, status_only});
  }

  const Json& insert(const Location& at, Json obj) {
    auto [bucket, new_kind] = kinds.try_emplace(KindKey{std::string(at.group), std::string(at.kind)});
    KindObjects& objects = bucket->second;
    if (new_kind) objects.holds_crds = at.group == "apiextensions.k8s.io" && at.kind == "CustomResourceDefinition";
    if (objects.objects.contains(ViewPair{at.ns, at.name})) fail(Code::AlreadyExists, describe(at) + " already exists");

    Json& metadata = obj["metadata"];
    if (string_member(metadata, "uid").empty()) {
      metadata["uid"] = fmt::format("00000000-0000-4000-8000-{:012x}", dry_run ? last_uid + 1 : ++last_uid);
    }
    if (string_member(metadata, "creationTimestamp").empty()) metadata["creationTimestamp"] = virtual_timestamp(now_ms());
    metadata["generation"] = 1;
    if (dry_run) {
      metadata.erase("resourceVersion");
      dry_run_result = std::move(obj);
      return dry_run_result;
    }
    metadata["resourceVersion"] = next_resource_version();

    ObjectKey key{std::string(at.ns), std::string(at.name)};  // `at` views into obj, which moves next
    Json labels = labels_of(obj);
    auto it = objects.objects.emplace(std::move(key), StoredObject{std::move(obj), std::move(labels)}).first;
    index(objects, it);
    index_labels(objects, it);
    ++size;
    track_crd(objects, nullptr, &it->second.object);
    notify(ChangeType::Added, it->second.object, nullptr);
    return it->second.object;
  }

  // Stores `updated` over the object at `it`, keeping server-managed metadata. A write that changes
  // nothing returns the stored object untouched: the API server neither bumps resourceVersion nor
  // sends a watch event for it, and controllers reacting to their own no-op writes would loop.
  const Json& update(KindObjects& objects, Objects::iterator it, Json updated) {
    Json& stored = it->second.object;
    const Json& stored_metadata = metadata_of(stored);
    Json& metadata = updated["metadata"];
    for (const char* managed : {"uid", "creationTimestamp", "resourceVersion"}) {
      if (const Json* value = member(stored_metadata, managed)) {
        metadata[managed] = *value;
      } else {
        metadata.erase(managed);
      }
    }
    const Json* generation = member(stored_metadata, "generation");
    std::int64_t stored_generation = generation != nullptr && generation->is_number_integer() ? generation->get<std::int64_t>() : 1;
    metadata["generation"] = spec_of(updated) == spec_of(stored) ? stored_generation : stored_generation + 1;
    if (updated == stored) return stored;
    if (dry_run) {
      dry_run_result = std::move(updated);
      return dry_run_result;
    }

    metadata["resourceVersion"] = next_resource_version();
    std::string old_node = node_name_of(stored);
    std::string new_node = node_name_of(updated);
    if (old_node != new_node) unindex(objects, it, old_node);
    if (labels_of(updated) != it->second.labels) {
      unindex_labels(objects, it);
      it->second.labels = labels_of(updated);
      index_labels(objects, it);
    }
    Json old = std::exchange(stored, std::move(updated));
    if (old_node != new_node) index(objects, it);
    track_crd(objects, &old, &stored);
    notify(ChangeType::Modified, stored, &old);
    return stored;
  }

  // Writers of the main resource do not touch .status (see the header).
  static void keep_status(Json& updated, const Json& stored) {
    if (const Json* status = member(stored, "status")) {
      updated["status"] = *status;
    } else if (updated.is_object()) {
      updated.erase("status");
    }
  }
};

// ---------------------------------------------------------------------------------------------------

ObjectStore::ObjectStore(std::function<std::int64_t()> now_ms) : impl_(std::make_unique<Impl>()) {
  impl_->now_ms = std::move(now_ms);
}

ObjectStore::~ObjectStore() = default;
ObjectStore::ObjectStore(ObjectStore&&) noexcept = default;
ObjectStore& ObjectStore::operator=(ObjectStore&&) noexcept = default;

const Json* ObjectStore::get(const ObjectRef& ref) const {
  Location at = impl_->locate(ref);
  const KindObjects* objects = impl_->bucket(at);
  if (objects == nullptr) return nullptr;
  auto it = objects->objects.find(ViewPair{at.ns, at.name});
  return it == objects->objects.end() ? nullptr : &it->second.object;
}

void ObjectStore::list(const ListQuery& query, const std::function<void(const Json&)>& visit) const {
  walk_after(query, {}, {}, [&](const Json& object) {
    visit(object);
    return true;
  });
}

void ObjectStore::walk_after(const ListQuery& query, std::string_view after_ns, std::string_view after_name,
                             const std::function<bool(const Json&)>& visit) const {
  const bool after = !after_name.empty();
  if (query.kind.empty()) fail(Code::Invalid, "a list needs a kind");
  std::string_view group = storage_group_of(group_of(resolve_api_version(query.api_version, query.kind)), query.kind);
  LabelSelector labels = LabelSelector::parse(query.label_selector);
  FieldSelector fields = FieldSelector::parse(query.field_selector);
  Location at{group, query.kind, query.ns, {}, impl_->scope_of(group, query.kind)};
  const KindObjects* objects = impl_->bucket(at);
  if (objects == nullptr) return;

  if (at.scope == Scope::Cluster) {
    at.ns = {};
  } else if (at.ns.empty()) {
    at.ns = fields.required_value("metadata.namespace").value_or(std::string_view());
  }
  // Whether to go on.
  auto accept = [&](const StoredObject& stored) {
    if ((labels.matches_everything() || labels.matches(stored.labels)) && fields.matches(stored.object)) {
      return visit(stored.object);
    }
    return true;
  };

  // The narrowest candidate set first; every candidate still goes through both selectors.
  auto name = fields.required_value("metadata.name");
  if (name && (!at.ns.empty() || at.scope == Scope::Cluster)) {
    auto it = objects->objects.find(ViewPair{at.ns, *name});
    if (it != objects->objects.end()) accept(it->second);
    return;
  }
  if (auto node = fields.required_value("spec.nodeName"); node && !node->empty()) {
    auto entry = objects->by_node_name.find(*node);
    if (entry == objects->by_node_name.end()) return;
    for (Objects::const_iterator it : entry->second) {
      if ((at.ns.empty() || it->first.ns == at.ns) && !accept(it->second)) return;
    }
    return;
  }
  // The smallest posting list of the selector's label equalities, when it has any.
  const ObjectSet* narrowest = nullptr;
  bool no_match = false;
  for (const LabelRequirement& r : labels.requirements()) {
    bool equality = r.op == LabelRequirement::Op::Equals || (r.op == LabelRequirement::Op::In && r.values.size() == 1);
    if (!equality) continue;
    auto entry = objects->by_label.find(Impl::label_entry(r.key, r.values.front()));
    if (entry == objects->by_label.end()) {
      no_match = true;
      break;
    }
    if (narrowest == nullptr || entry->second.size() < narrowest->size()) narrowest = &entry->second;
  }
  if (no_match) return;
  if (narrowest != nullptr) {
    for (Objects::const_iterator it : *narrowest) {
      if ((at.ns.empty() || it->first.ns == at.ns) && !accept(it->second)) return;
    }
    return;
  }
  if (!at.ns.empty()) {
    auto it = objects->objects.lower_bound(ViewPair{at.ns, {}});
    if (after && ViewPair{after_ns, after_name} >= ViewPair{at.ns, {}}) {
      it = objects->objects.upper_bound(ViewPair{after_ns, after_name});
    }
    for (; it != objects->objects.end() && it->first.ns == at.ns; ++it) {
      if (!accept(it->second)) return;
    }
    return;
  }
  auto it = after ? objects->objects.upper_bound(ViewPair{after_ns, after_name}) : objects->objects.begin();
  for (; it != objects->objects.end(); ++it) {
    if (!accept(it->second)) return;
  }
}

const Json& ObjectStore::create(Json obj) {
  Location at = impl_->locate(obj);
  return impl_->insert(at, std::move(obj));
}

const Json& ObjectStore::apply(Json obj) {
  Location at = impl_->locate(obj);
  KindObjects* objects = impl_->bucket(at);
  auto it = objects != nullptr ? objects->objects.find(ViewPair{at.ns, at.name}) : Objects::iterator{};
  if (objects == nullptr || it == objects->objects.end()) return impl_->insert(at, std::move(obj));

  impl_->check_resource_version(obj, it->second.object, at);
  Json updated = it->second.object;
  merge_applied_object(updated, obj);
  Impl::keep_status(updated, it->second.object);
  return impl_->update(*objects, it, std::move(updated));
}

const Json& ObjectStore::merge_patch(const ObjectRef& ref, const Json& patch) {
  Location at = impl_->locate(ref);
  auto [objects, it] = impl_->find_existing(at);
  if (!patch.is_object()) fail(Code::Invalid, fmt::format("{}: a merge patch must be an object, got {}", describe(at), patch.type_name()));
  impl_->check_resource_version(patch, it->second.object, at);
  Json updated = it->second.object;
  updated.merge_patch(patch);
  impl_->check_identity_kept(updated, at, "merge patch");
  Impl::keep_status(updated, it->second.object);
  return impl_->update(*objects, it, std::move(updated));
}

const Json& ObjectStore::json_patch(const ObjectRef& ref, const Json& operations) {
  Location at = impl_->locate(ref);
  auto [objects, it] = impl_->find_existing(at);
  if (!operations.is_array()) {
    fail(Code::Invalid, fmt::format("{}: a JSON patch must be a list of operations, got {}", describe(at), operations.type_name()));
  }
  Json updated = it->second.object;
  // One operation at a time, so that a failure names the operation.
  for (std::size_t i = 0; i < operations.size(); ++i) {
    const Json& op = operations[i];
    try {
      updated.patch_inplace(Json::array({op}));
    } catch (const Json::exception& error) {
      bool test_failed = error.id == 501 && string_member(op, "op") == "test";
      fail(Code::Invalid, fmt::format("{}: JSON patch operation {} ({}) failed: {}", describe(at), i, describe_operation(op),
                                      test_failed ? test_failure_reason(updated, op) : json_error_reason(error)));
    }
  }
  impl_->check_identity_kept(updated, at, "JSON patch");
  Impl::keep_status(updated, it->second.object);
  return impl_->update(*objects, it, std::move(updated));
}

const Json& ObjectStore::patch_status(const ObjectRef& ref, const Json& status_merge_patch) {
  Location at = impl_->locate(ref);
  auto [objects, it] = impl_->find_existing(at);
  // Patch a copy of .status only and move it in: the spec, labels, node index and CRD scope cannot
  // change through the status, so none of update()'s bookkeeping applies. The whole object is
  // copied only for an observer that wants it as it was.
  Json& stored = it->second.object;
  const Json* current = member(stored, "status");
  Json status = current != nullptr ? *current : Json(nullptr);
  status.merge_patch(status_merge_patch);
  if (current != nullptr ? status == *current : status.is_null()) return stored;
  if (impl_->dry_run) {
    impl_->dry_run_result = stored;
    if (status.is_null()) impl_->dry_run_result.erase("status");
    else impl_->dry_run_result["status"] = std::move(status);
    return impl_->dry_run_result;
  }
  std::optional<Json> old;
  if (impl_->observer_wants_old) old = stored;
  if (status.is_null()) stored.erase("status");
  else stored["status"] = std::move(status);
  stored["metadata"]["resourceVersion"] = impl_->next_resource_version();
  impl_->notify(ChangeType::Modified, stored, old ? &*old : nullptr, true);
  return stored;
}

const Json& ObjectStore::replace(Json obj) {
  Location at = impl_->locate(obj);
  auto [objects, it] = impl_->find_existing(at);
  impl_->check_resource_version(obj, it->second.object, at);
  Impl::keep_status(obj, it->second.object);
  return impl_->update(*objects, it, std::move(obj));
}

void ObjectStore::remove(const ObjectRef& ref) {
  Location at = impl_->locate(ref);
  auto [objects, it] = impl_->find_existing(at);
  if (impl_->dry_run) return;
  impl_->unindex(*objects, it, node_name_of(it->second.object));
  impl_->unindex_labels(*objects, it);
  auto node = objects->objects.extract(it);
  --impl_->size;
  // A deletion is a change too: watchers see the object's last state at a new resourceVersion.
  node.mapped().object["metadata"]["resourceVersion"] = impl_->next_resource_version();
  impl_->track_crd(*objects, &node.mapped().object, nullptr);
  impl_->notify(ChangeType::Deleted, node.mapped().object, nullptr);
}

void ObjectStore::set_observer(std::function<void(const Change&)> observer, bool wants_old) {
  impl_->observer = std::move(observer);
  impl_->observer_wants_old = wants_old;
}

Json ObjectStore::dump() const {
  Json out = Json::object();
  for_each([&](const std::string& kind, const Json& object) { out[kind].push_back(object); });
  return out;
}

void ObjectStore::for_each(const std::function<void(const std::string& kind, const Json& object)>& visit) const {
  for (const auto& [key, objects] : impl_->kinds) {
    if (objects.objects.empty()) continue;
    std::string kind = fmt::format("{}/{}", key.group.empty() ? "core" : key.group, key.kind);
    for (const auto& [object_key, stored] : objects.objects) visit(kind, stored.object);
  }
}

std::size_t ObjectStore::size() const { return impl_->size; }

std::vector<ObjectStore::KindEntry> ObjectStore::kinds() const {
  std::vector<KindEntry> out;
  for (const auto& [key, objects] : impl_->kinds) {
    if (!objects.objects.empty()) out.push_back(KindEntry{key.group, key.kind, objects.objects.size()});
  }
  return out;
}

std::uint64_t ObjectStore::resource_version() const { return impl_->last_resource_version; }

void ObjectStore::set_dry_run(bool on) {
  impl_->dry_run = on;
  if (!on) impl_->dry_run_result = Json();
}

bool ObjectStore::dry_run() const { return impl_->dry_run; }

}  // namespace refit::sim
