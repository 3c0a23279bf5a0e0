// refit unlock RUN: what a run's journal says about where its leases are (its playbook and the world
// it ran in), for refit unlock to remove them as it does for PLAYBOOK --context/--inventory/--sim.
#pragma once
#include <optional>
#include <string>

namespace refit::cli {

struct UnlockTarget {
  std::string run_id;                     // the run's full id (the leases' holder)
  std::string playbook;                   // the playbook's name: its Lease is refit-<name>
  std::string fixture;                    // a simulated world (--sim)
  std::string context;                    // or real clusters: --context
  std::optional<std::string> inventory;   // or --inventory
  std::string kubeconfig;
};

// The run named by `run` (an id or a unique prefix of one) as its journal in `state_dir` records it.
// Throws std::runtime_error when no journal (or more than one) matches.
UnlockTarget unlock_target_of_run(const std::string& run, const std::string& state_dir);

}  // namespace refit::cli
