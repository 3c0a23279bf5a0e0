// The simulated world as `refit sim serve` shares it between the server's threads: one lock around
// the world and the Lua VM (the VM is single-threaded), the resource catalog and list-item cache of
// each cluster, the watch history that the runtime's change tap feeds, and the first failure of the models (after which
// the world cannot be served).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/sim/sim_runtime.hpp"
#include "serve/item_cache.hpp"
#include "serve/json_writer.hpp"
#include "serve/resource_catalog.hpp"
#include "serve/served_secrets.hpp"
#include "serve/watch_hub.hpp"

namespace refit::serve {

class ServedWorld {
 public:
  // Installs the change tap on `runtime` (removed again by the destructor), and writes every object's
  // JSON as a list item into the item caches: a served world stands in for an API server, which answers
  // lists from objects it holds in memory (its watch cache); serialising 10,000 Nodes on the first
  // list instead doubled that list's time. Later writes are serialised when next listed.
  ServedWorld(sim::SimRuntime& runtime, std::size_t watch_history);
  ~ServedWorld();
  ServedWorld(const ServedWorld&) = delete;
  ServedWorld& operator=(const ServedWorld&) = delete;

  // Everything but hub(), names() and failure() needs this lock held.
  std::unique_lock<std::mutex> lock() { return std::unique_lock(mutex_); }

  sim::SimRuntime& runtime() { return runtime_; }
  sim::SimCluster* cluster(std::string_view name);
  // The cluster names, in the world's order; fixed once the world is loaded.
  const std::vector<std::string>& names() const { return names_; }
  std::string default_cluster() const { return default_; }

  // The cluster's resources, rebuilt when its version or its CustomResourceDefinitions changed, or
  // an object of a custom kind was written at an apiVersion not seen before.
  const ResourceCatalog& catalog(sim::SimCluster& cluster);

  // The cluster's cache of list items (see ItemCache).
  ItemCache& item_cache(const std::string& cluster) { return catalogs_[cluster].items; }

  // After a write: lets the models react at the current virtual time, as they would in-process.
  // Throws std::runtime_error when a model fails (see failure()).
  void settle();
  // Moves the virtual clock to `t` (the wall clock's pace); same failures.
  void advance_to(std::int64_t t);

  // The models' first failure; set once, then the world stays broken and is no longer served.
  std::optional<std::string> failure() const;

  WatchHub& hub() { return hub_; }

  // How clients see kubeconfig Secrets (served_secrets.hpp); set before the server listens, and
  // read without the lock afterwards (watch streams). Until then every Secret is served as stored.
  void set_secrets(std::shared_ptr<const ServedSecrets> secrets) { secrets_ = std::move(secrets); }
  const std::shared_ptr<const ServedSecrets>& secrets() const { return secrets_; }
  // `object`'s JSON as clients get it (object_json, with kubeconfig Secrets served).
  std::string served_json(const Json& object, std::string_view api_version) const;
  // `object` as clients see it: a kubeconfig Secret served afresh (kept in `scratch`), else `object`.
  const Json& client_view(const Json& object, std::optional<Json>& scratch) const;

 private:
  void fail(const std::string& message);

  sim::SimRuntime& runtime_;
  std::mutex mutex_;
  WatchHub hub_;
  std::shared_ptr<const ServedSecrets> secrets_ = std::make_shared<ServedSecrets>();
  std::vector<std::string> names_;
  std::string default_;
  struct CatalogEntry {
    std::unique_ptr<ResourceCatalog> catalog;
    bool stale = true;
    // "apiVersion kind" of the custom objects written so far: a new one may be a kind (or a version of
    // one) that the catalog does not serve yet. Each is noted once, so a kind the catalog will never
    // serve costs one rebuild, not one per write.
    std::set<std::string, std::less<>> seen_types;
    ItemCache items;
  };
  std::map<std::string, CatalogEntry, std::less<>> catalogs_;
  static void note_type(CatalogEntry& entry, const Json& object);
  static void prime_items(const sim::SimCluster& cluster, ItemCache& items);
  mutable std::mutex failure_mutex_;
  std::optional<std::string> failure_;
};

}  // namespace refit::serve
