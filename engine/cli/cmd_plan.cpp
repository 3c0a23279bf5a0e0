// refit plan / refit apply PLAYBOOK: run a playbook in a simulated world (--sim FIXTURE), or apply
// it to real clusters (--context CTX or --inventory FILE).
#include <cstdlib>
#include <iostream>
#include <memory>
#include <unistd.h>

#include "cli/common.hpp"
#include "report/console_sink.hpp"
#include "run/session.hpp"

namespace refit::cli {

namespace {

struct PlanOptions {
  run::SessionOptions session;
  std::string output = "text";
  bool yes = false;
  std::optional<std::string> state_dir;
};

// Before changing real clusters, as terraform apply does: the plan (from a snapshot of the targets,
// so the clusters are untouched) is shown, then the operator types "yes" at a terminal, or says
// --yes. Off a terminal nobody could answer, so the run stops instead of guessing.
std::function<bool(const std::vector<std::string>&)> confirmation(const PlanOptions& opts, bool verbose, bool no_color) {
  if (opts.yes) return {};
  run::SessionOptions plan = opts.session;
  plan.mode = "plan";
  return [plan, verbose, no_color](const std::vector<std::string>& targets) {
    if (isatty(STDIN_FILENO) == 0 || isatty(STDERR_FILENO) == 0) {
      throw run::SetupError("refit apply changes real clusters and asks first, but this is not a terminal: "
                            "pass --yes to apply without asking");
    }
    // The plan goes to stderr: stdout is the apply's report.
    report::ConsoleSink sink(std::cerr, report::ConsoleOptions{!no_color && std::getenv("NO_COLOR") == nullptr, verbose});
    int plan_code = 0;
    try {
      plan_code = run::exit_code(run::run_session(plan, {&sink}).outcome.status);
    } catch (const run::SetupError& e) {
      std::cerr << "refit: the plan could not run: " << e.what() << "\n";
      plan_code = 1;
    }
    std::cerr << "\nrefit will apply " << plan.playbook << " to:\n";
    for (const auto& t : targets) std::cerr << "  " << t << "\n";
    if (plan_code != 0) std::cerr << "The plan above did not succeed (exit " << plan_code << ").\n";
    std::cerr << "Only 'yes' will be accepted to approve.\nApply? ";
    std::string answer;
    std::getline(std::cin, answer);
    return answer == "yes";
  };
}

}  // namespace

void add_plan(CLI::App& app, GlobalOptions& global, Command& command, const std::string& mode) {
  auto opts = std::make_shared<PlanOptions>();
  opts->session.mode = mode;
  std::string help = mode == "plan"
      ? "simulate a playbook: every step, change, command and wait, with estimated durations"
      : "run a playbook: against real clusters (--context, --inventory) or a simulated world (--sim)";
  auto* sub = app.add_subcommand(mode, help);
  sub->add_option("PLAYBOOK", opts->session.playbook, "bundled name (eks/upgrade) or path")->required();
  // Not required by the parser: the session explains which world options go together.
  sub->add_option("--sim", opts->session.fixture, "world fixture (YAML) to run against");
  sub->add_option("--context", opts->session.context, "kubeconfig context of the real cluster to run against");
  sub->add_option("--inventory", opts->session.inventory,
                  "YAML file mapping the playbook's cluster names to kubeconfig contexts");
  sub->add_option("--kubeconfig", opts->session.kubeconfig, "kubeconfig file (else KUBECONFIG, else ~/.kube/config)");
  if (mode == "apply") sub->add_flag("-y,--yes", opts->yes, "apply to real clusters without asking for confirmation");
  sub->add_option("--set", opts->session.sets, "parameter value name=value (repeatable; wins over -f)");
  sub->add_option("-f,--values", opts->session.values_file, "YAML file of parameter values");
  sub->add_option("--scenario", opts->session.scenario, "fault scenario (YAML) to inject into the world");
  sub->add_option("--seed", opts->session.seed, "seed of the simulated world's randomness")->default_val(1);
  sub->add_option("--save-world", opts->session.save_world,
                  "write the simulated world as the run left it to FILE (JSON, as refit sim serve's /refit/v1/dump)");
  sub->add_option("-o,--output", opts->output, "text, or json: one JSON event per line")
      ->check(CLI::IsMember({"text", "json"}));
  if (mode == "apply") add_state_dir_option(sub, opts->state_dir);
  sub->callback([&global, &command, opts] {
    command.run = [&global, opts] {
      opts->session.vm = vm_options(global);
      opts->session.verbose = global.verbose;
      if (opts->session.mode == "apply") {
        opts->session.confirm = confirmation(*opts, global.verbose, global.no_color);
        // Every apply is journaled (docs/durable-runs.md), so that it can be resumed or rolled back.
        if (!journal_session(opts->session, opts->state_dir)) return 1;
      }
      std::unique_ptr<run::EventSink> sink;
      if (opts->output == "json") sink = std::make_unique<report::JsonLinesSink>(std::cout);
      else sink = std::make_unique<report::ConsoleSink>(std::cout, report::ConsoleOptions{use_color(global), global.verbose});
      try {
        auto result = run::run_session(opts->session, {sink.get()});
        std::cout.flush();
        return run::exit_code(result.outcome);
      } catch (const run::SetupError& e) {
        // A consumer of -o json still gets its last line: run_finished, saying why nothing ran.
        if (opts->output == "json") {
          std::cout << nlohmann::ordered_json{{"event", "run_finished"}, {"time", 0}, {"status", "setup_failed"},
                                      {"exit_code", 1}, {"message", e.what()}, {"changed", false}}.dump()
                    << std::endl;
        }
        std::cout.flush();
        print_error(e.what());
        return 1;
      }
    };
  });
}

}  // namespace refit::cli
