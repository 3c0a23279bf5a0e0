// refit unlock RUN: what a run's journal says about where its leases are (its playbook and the world
// it ran in), for refit unlock to remove them as it does for PLAYBOOK --context/--inventory/--sim.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "run/journal_reader.hpp"

namespace refit::cli {

struct UnlockTarget {
  std::string run_id;                     // the run's full id (the leases' holder)
  std::string playbook;                   // the playbook's name: its Lease is refit-<name>
  run::journal::JournaledWorld world;     // where it ran
};

// The run named by `run` (an id or a unique prefix of one) as its journal in the state directory
// (`state_dir`, else the default one) records it. Throws std::runtime_error when no journal (or more
// than one) matches, or the journal does not say where the run ran.
UnlockTarget unlock_target_of_run(const std::string& run, const std::optional<std::string>& state_dir);

}  // namespace refit::cli
