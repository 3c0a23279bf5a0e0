// Cluster handles in Lua (docs/playbooks.md, "Cluster handles"): a full userdata "refit.Cluster"
// over a cluster::Cluster. Handles given to playbooks report every mutation to an observer, which
// turns them into `mutation` events; the world's own handles (used by the simulation models) do not.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "cluster/cluster.hpp"
#include "lua/lua.hpp"

namespace refit::sim { class SimCluster; }

namespace refit::lua {

class MutationObserver {
 public:
  virtual ~MutationObserver() = default;
  // Called before every request through the handle, reads included; throws (a lua::Error) to
  // refuse it, e.g. when the run is stopping.
  virtual void before_request() {}
  // Called before a write; throws (a lua::Error) to refuse it, e.g. in a phase that must only read.
  virtual void before_mutation(const std::string& cluster, const std::string& verb, const cluster::ObjectRef& ref) = 0;
  // verb: create, apply, patch, patch_status, delete. `patch` is null except for patches.
  virtual void on_mutation(const std::string& cluster, const std::string& verb, const cluster::ObjectRef& ref,
                           const nlohmann::json* patch) = 0;
};

// Pushes a handle. `observer` may be null. `sim` is set for the world's handles only (enables set_version).
void push_cluster_handle(lua_State* L, cluster::Cluster* cluster, MutationObserver* observer,
                         sim::SimCluster* sim = nullptr);

// Reads a ref table ({apiVersion, kind, namespace, name}, or an object) at `index`; throws on a bad one.
cluster::ObjectRef read_object_ref(lua_State* L, int index);

}  // namespace refit::lua
