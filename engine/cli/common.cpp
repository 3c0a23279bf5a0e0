#include "cli/common.hpp"

#include <cstdlib>
#include <optional>
#include <limits>
#include <iostream>
#include <unistd.h>

#include "report/duration_text.hpp"
#include "run/journal.hpp"
#include "run/session.hpp"

namespace refit::cli {

void add_global_options(CLI::App& app, GlobalOptions& options) {
  app.add_option("--stdlib", options.stdlib_dir, "load the Lua stdlib from DIR instead of the embedded copy")
      ->envname("REFIT_STDLIB");
  app.add_option("--lib", options.libs, "also search DIR for Lua modules (repeatable)");
  app.add_option("--memory", options.memory_mib, "Lua memory budget in MiB")
      ->default_val(512)->check(CLI::Range(std::size_t{8}, std::size_t{1} << 20));
  app.add_option("--max-instructions", options.max_instructions,
                 "Lua instructions one call may run before it is stopped (a C function, such as a "
                 "pattern match on a huge string, runs to its end)")
      ->default_val(200'000'000)->check(CLI::Range(std::int64_t{100'000}, std::numeric_limits<std::int64_t>::max()));
  app.add_flag("--no-color", options.no_color, "never colour the output (also: NO_COLOR)");
  app.add_flag("-v,--verbose", options.verbose, "show debug logs, state changes and tracebacks");
}

lua::VmOptions vm_options(const GlobalOptions& options) {
  lua::VmOptions vm;
  vm.memory_limit = options.memory_mib << 20;
  vm.instruction_limit = options.max_instructions;
  if (!options.stdlib_dir.empty()) vm.stdlib_dir = options.stdlib_dir;
  vm.lib_dirs = options.libs;
  return vm;
}

bool use_color(const GlobalOptions& options) {
  return !options.no_color && std::getenv("NO_COLOR") == nullptr && isatty(STDOUT_FILENO) != 0;
}

namespace {

// "2m", "90s", "1h30m" or a plain number of seconds: the lease's duration in whole seconds, or none.
std::optional<std::int64_t> duration_seconds(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    return text.size() > 9 ? std::nullopt : std::optional<std::int64_t>(std::stoll(text));
  }
  std::optional<std::int64_t> ms = report::parse_duration_ms(text);
  if (!ms || *ms % 1000 != 0) return std::nullopt;  // a Lease counts whole seconds
  return *ms / 1000;
}

}  // namespace

void add_lease_duration(CLI::App& sub, std::int64_t& seconds) {
  sub.add_option_function<std::string>(
         "--lease-duration",
         [&seconds](const std::string& text) {
           auto parsed = duration_seconds(text);
           if (!parsed || *parsed < 4) {
             throw CLI::ValidationError("--lease-duration", "must be a duration of at least 4s, such as 90s, 2m or 1h, got \"" + text + "\"");
           }
           seconds = *parsed;
         },
         "how long the run's lease on each cluster lasts unless renewed (renewed every quarter of it; default 2m)")
      ->type_name("DURATION");
}

void print_error(const std::string& message) { std::cerr << "refit: " << message << '\n'; }

void add_state_dir_option(CLI::App* sub, std::optional<std::string>& state_dir) {
  sub->add_option("--state-dir", state_dir,
                  "where run journals are kept (else $XDG_STATE_HOME/refit, else ~/.local/state/refit)");
}

bool journal_session(run::SessionOptions& session, const std::optional<std::string>& state_dir) {
  session.state_dir = state_dir.value_or("");
  session.handle_signals = true;
  try {
    session.journal_hooks = run::journal::test_hooks_from_environment();
  } catch (const run::journal::JournalError& e) {
    print_error(e.what());
    return false;
  }
  return true;
}

}  // namespace refit::cli
