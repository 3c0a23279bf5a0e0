// refit: rehearse and run upgrade playbooks for Kubernetes platforms.
#include <CLI/CLI.hpp>

#include "cli/common.hpp"

int main(int argc, char** argv) {
  using namespace refit::cli;
  CLI::App app{"refit: rehearse and run upgrade playbooks for Kubernetes platforms"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand: refit plan X --stdlib DIR
  GlobalOptions global;
  add_global_options(app, global);
  Command command;
  add_list(app, global, command);
  add_show(app, global, command);
  add_check(app, global, command);
  add_plan(app, global, command, "plan");
  add_plan(app, global, command, "apply");
  add_test(app, global, command);
  add_paths(app, global, command);
  add_sim(app, global, command);
  add_snapshot(app, global, command);
  add_runs(app, global, command);
  add_resume(app, global, command);
  add_rollback(app, global, command);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 1;  // usage errors exit 1, like load errors (DESIGN.md, exit codes)
  }
  try {
    return command.run();
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}
