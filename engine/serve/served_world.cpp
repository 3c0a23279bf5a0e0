#include "serve/served_world.hpp"

#include <stdexcept>

#include "cluster/kinds.hpp"

namespace refit::serve {

ServedWorld::ServedWorld(sim::SimRuntime& runtime, std::size_t watch_history)
    : runtime_(runtime), hub_(watch_history) {
  sim::World& world = runtime_.world();
  for (const auto& c : world.clusters()) {
    names_.push_back(c->name());
    hub_.add_cluster(c->name(), c->store().resource_version());
    catalogs_[c->name()];
  }
  if (sim::SimCluster* def = world.default_cluster()) default_ = def->name();
  for (const auto& c : world.clusters()) prime_items(*c, catalogs_[c->name()].items);
  runtime_.set_change_tap_with_old([this](const std::string& cluster, const sim::Change& change) {
    hub_.record(cluster, change, runtime_.now());
    auto it = catalogs_.find(cluster);
    if (it == catalogs_.end()) return;
    // A status patch cannot change an apiVersion or a CRD's spec, which is all the catalog reads.
    if (!change.status_only) note_type(it->second, change.object);
    if (change.type == sim::ChangeType::Deleted) it->second.items.forget(change.object);
  });
}

ServedWorld::~ServedWorld() { runtime_.set_change_tap(nullptr); }

// As a list at the object's own apiVersion asks for it (the version clients read from discovery,
// unless the kind was written at several): built-in kinds' items without apiVersion and kind.
void ServedWorld::prime_items(const sim::SimCluster& cluster, ItemCache& items) {
  for (const sim::ObjectStore::KindEntry& entry : cluster.store().kinds()) {
    const bool custom = !builtin_is_namespaced(entry.group, entry.kind).has_value();
    std::string any_version = entry.group.empty() ? "v1" : entry.group + "/v1";  // the store reads the group only
    cluster.store().list(sim::ListQuery{any_version, entry.kind, "", "", ""}, [&](const Json& object) {
      auto api_version = object.find("apiVersion");
      if (api_version == object.end() || !api_version->is_string()) return;
      items.item(object, api_version->get_ref<const std::string&>(), custom);
    });
  }
}

sim::SimCluster* ServedWorld::cluster(std::string_view name) { return runtime_.world().find(std::string(name)); }

void ServedWorld::note_type(CatalogEntry& entry, const Json& object) {
  auto kind = object.find("kind");
  auto api_version = object.find("apiVersion");
  if (kind == object.end() || api_version == object.end() || !kind->is_string() || !api_version->is_string()) return;
  const std::string& kind_name = kind->get_ref<const std::string&>();
  const std::string& version = api_version->get_ref<const std::string&>();
  if (kind_name == "CustomResourceDefinition") {
    entry.stale = true;
    return;
  }
  if (builtin_is_namespaced(storage_group_of(group_of(version), kind_name), kind_name)) return;
  std::string type = version + " " + kind_name;
  if (entry.seen_types.insert(std::move(type)).second) entry.stale = true;
}

const ResourceCatalog& ServedWorld::catalog(sim::SimCluster& cluster) {
  CatalogEntry& entry = catalogs_[cluster.name()];
  if (!entry.catalog || entry.stale || entry.catalog->git_version() != cluster.version().git_version) {
    entry.catalog = std::make_unique<ResourceCatalog>(cluster);
    entry.stale = false;
  }
  return *entry.catalog;
}

std::string ServedWorld::served_json(const Json& object, std::string_view api_version) const {
  std::optional<Json> scratch;
  return object_json(client_view(object, scratch), api_version);
}

const Json& ServedWorld::client_view(const Json& object, std::optional<Json>& scratch) const {
  scratch = secrets_->served(object);
  return scratch ? *scratch : object;
}

void ServedWorld::settle() { advance_to(runtime_.now()); }

void ServedWorld::advance_to(std::int64_t t) {
  if (auto failed = failure()) throw std::runtime_error(*failed);
  try {
    runtime_.advance_to(t);
  } catch (const std::exception& e) {
    fail(e.what());
    throw;
  }
}

std::optional<std::string> ServedWorld::failure() const {
  std::lock_guard lock(failure_mutex_);
  return failure_;
}

void ServedWorld::fail(const std::string& message) {
  std::lock_guard lock(failure_mutex_);
  if (!failure_) failure_ = message;
}

}  // namespace refit::serve
