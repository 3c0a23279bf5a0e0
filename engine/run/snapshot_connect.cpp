#include "run/snapshot_connect.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace refit::run {

RunHost::Connector snapshot_connector(RealWorld& real, sim::SimRuntime& runtime) {
  return [&real, &runtime](const std::string& kubeconfig_text, const std::string& name) -> cluster::Cluster* {
    // Named as the real run names it (the kubeconfig's cluster entry, or the target of that server).
    cluster::Cluster* live = real.connect(kubeconfig_text, name);
    if (sim::SimCluster* known = runtime.world().find(live->name())) return known;
    nlohmann::json entry;
    try {
      entry = real.snapshot_cluster(*live, true);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("cannot snapshot cluster {} for the plan: {}", live->name(), e.what()));
    }
    try {
      runtime.add_cluster(live->name(), entry, fmt::format("the snapshot of cluster {}", live->name()));
    } catch (const sim::FixtureError& e) {
      throw std::runtime_error(e.what());
    }
    return runtime.world().find(live->name());
  };
}

}  // namespace refit::run
