// The parts of `refit sim`: serve (cmd_sim.cpp) and exec (cmd_sim_exec.cpp).
#pragma once
#include "cli/common.hpp"

namespace refit::cli {

// Adds `refit sim exec TOOL ARGS...` under `sim`.
void add_sim_exec(CLI::App& sim, Command& command);

}  // namespace refit::cli
