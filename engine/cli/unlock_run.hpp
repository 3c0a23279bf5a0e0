// refit unlock RUN: what a run's journal says about where its leases are (its playbook and the world
// it ran in), for refit unlock to remove them as it does for PLAYBOOK --context/--inventory/--sim.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace refit::cli {

struct UnlockTarget {
  std::string run_id;                     // the run's full id (the leases' holder)
  std::string playbook;                   // the playbook's name: its Lease is refit-<name>
  std::string fixture;                    // a simulated world (--sim)
  std::string sim_state;                  // ... kept in this file (--sim-state); empty: not kept
  std::optional<std::string> scenario;    // ... built with this scenario and seed
  std::uint64_t seed = 1;
  std::string context;                    // or real clusters: --context
  std::optional<std::string> inventory;   // or --inventory
  std::string kubeconfig;
};

// The run named by `run` (an id or a unique prefix of one) as its journal in the state directory
// (`state_dir`, else the default one) records it. Throws std::runtime_error when no journal (or more
// than one) matches, or the journal does not say where the run ran.
UnlockTarget unlock_target_of_run(const std::string& run, const std::optional<std::string>& state_dir);

}  // namespace refit::cli
