// ctx:connect in a plan from live clusters (`refit plan --context` / `--inventory`). The plan runs in
// a simulated world made from a snapshot of the targets; a playbook that reaches another cluster
// through a kubeconfig (a Cluster API cluster's Secret, a KKP Seed's) gets it as the real run would:
// refit connects to the kubeconfig's server for real, read-only, snapshots that cluster into the
// simulated world, and the plan goes on there. A server already reached (a target, an earlier
// connect) is the same cluster, as in a real run; so is the simulated cluster made of it.
#pragma once
#include "cluster/sim/sim_runtime.hpp"
#include "run/real_world.hpp"
#include "run/run_host.hpp"

namespace refit::run {

// The connector of a plan whose world `runtime` was loaded from `real`'s snapshot (its clusters
// named as `real`'s). Both must outlive the plan. A cluster that cannot be reached or read fails the
// ctx:connect with a message that names it.
RunHost::Connector snapshot_connector(RealWorld& real, sim::SimRuntime& runtime);

}  // namespace refit::run
