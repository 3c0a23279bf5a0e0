// The parts of `refit sim`: serve (cmd_sim.cpp), exec (cmd_sim_exec.cpp) and dump (cmd_sim_dump.cpp).
#pragma once
#include "cli/common.hpp"

namespace refit::cli {

// Adds `refit sim exec TOOL ARGS...` under `sim`.
void add_sim_exec(CLI::App& sim, Command& command);
// Adds `refit sim dump FIXTURE --sim-state FILE` under `sim`.
void add_sim_dump(CLI::App& sim, GlobalOptions& global, Command& command);

}  // namespace refit::cli
