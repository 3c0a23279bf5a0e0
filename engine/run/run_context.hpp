// The `ctx` every playbook function receives, built by the stdlib's refit.context from a RunHost,
// the resolved parameters and the cluster handles. A run builds it for its steps; the snapshot
// hooks (snapshot_hooks.hpp) build one over the live clusters before a plan.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "cluster/cluster.hpp"
#include "lua/vm.hpp"
#include "run/run_host.hpp"

namespace refit::run {

using NamedClusters = std::vector<std::pair<std::string, cluster::Cluster*>>;

// require("refit.context").new(host, params, clusters, default, state): returns a registry ref to
// ctx. `params_ref` is a registry ref to the resolved parameters; `state` is ctx.state as a
// journaled run left it (an object), or null for a fresh one. Throws std::runtime_error when the
// stdlib's context module fails (a broken stdlib override).
int make_context(lua::Vm& vm, RunHost& host, int params_ref, const NamedClusters& clusters,
                 const std::string& default_name, const nlohmann::json& state = nullptr);

}  // namespace refit::run
