// refit sim serve FIXTURE | refit sim exec TOOL ARGS...: the simulated world as a Kubernetes API
// server, and its tool models run from outside it.
#include "cli/common.hpp"

namespace refit::cli {

void add_sim(CLI::App& app, GlobalOptions&, Command&) {
  auto* sim = app.add_subcommand("sim", "Serve a simulated world as a Kubernetes API server");
  sim->require_subcommand(1);
}

}  // namespace refit::cli
