// What the subcommands share: the global options and the helpers that turn them into a VM and sinks.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "lua/vm.hpp"

namespace refit::run { struct SessionOptions; }

namespace refit::cli {

struct GlobalOptions {
  std::string stdlib_dir;          // --stdlib DIR (or REFIT_STDLIB)
  std::vector<std::string> libs;   // --lib DIR
  std::size_t memory_mib = 512;    // --memory
  std::int64_t max_instructions = 200'000'000;
  bool no_color = false;
  bool verbose = false;
};

void add_global_options(CLI::App& app, GlobalOptions& options);
lua::VmOptions vm_options(const GlobalOptions& options);
bool use_color(const GlobalOptions& options);

// --lease-duration on a subcommand that changes clusters (apply, resume, rollback): how long the run's
// lease lasts unless renewed ("2m", "90s", "1h", or seconds), at least 4 s.
void add_lease_duration(CLI::App& sub, std::int64_t& seconds);

// Prints "refit: <message>" on stderr.
void print_error(const std::string& message);

// Durable runs (docs/durable-runs.md): --state-dir DIR, and a session set up to be journaled there,
// with SIGINT/SIGTERM handled and the test hooks read from the environment. Prints the problem
// and returns false when the hooks' variables are malformed.
void add_state_dir_option(CLI::App* sub, std::optional<std::string>& state_dir);
bool journal_session(run::SessionOptions& session, const std::optional<std::string>& state_dir);

// Subcommands: each registers itself and sets `run` to the function that executes it.
struct Command {
  std::function<int()> run;
};
void add_list(CLI::App& app, GlobalOptions& global, Command& command);
void add_show(CLI::App& app, GlobalOptions& global, Command& command);
void add_check(CLI::App& app, GlobalOptions& global, Command& command);
void add_plan(CLI::App& app, GlobalOptions& global, Command& command, const std::string& mode);
void add_test(CLI::App& app, GlobalOptions& global, Command& command);
void add_paths(CLI::App& app, GlobalOptions& global, Command& command);
void add_sim(CLI::App& app, GlobalOptions& global, Command& command);  // refit sim serve | exec | dump
void add_snapshot(CLI::App& app, GlobalOptions& global, Command& command);
void add_runs(CLI::App& app, GlobalOptions& global, Command& command);
void add_resume(CLI::App& app, GlobalOptions& global, Command& command);    // refit resume RUN
void add_rollback(CLI::App& app, GlobalOptions& global, Command& command);  // refit rollback RUN
void add_unlock(CLI::App& app, GlobalOptions& global, Command& command);

}  // namespace refit::cli
