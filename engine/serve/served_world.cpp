#include "serve/served_world.hpp"

#include <stdexcept>

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
  runtime_.set_change_tap_with_old([this](const std::string& cluster, const sim::Change& change) {
    hub_.record(cluster, change);
    auto kind = change.object.find("kind");
    if (kind != change.object.end() && *kind == "CustomResourceDefinition") {
      if (auto it = catalogs_.find(cluster); it != catalogs_.end()) it->second.crds_changed = true;
    }
  });
}

ServedWorld::~ServedWorld() { runtime_.set_change_tap(nullptr); }

sim::SimCluster* ServedWorld::cluster(std::string_view name) { return runtime_.world().find(std::string(name)); }

const ResourceCatalog& ServedWorld::catalog(sim::SimCluster& cluster) {
  CatalogEntry& entry = catalogs_[cluster.name()];
  if (!entry.catalog || entry.crds_changed || entry.catalog->git_version() != cluster.version().git_version) {
    entry.catalog = std::make_unique<ResourceCatalog>(cluster);
    entry.crds_changed = false;
  }
  return *entry.catalog;
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
