#include "cli/common.hpp"

#include <cstdlib>
#include <limits>
#include <iostream>
#include <unistd.h>

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

void print_error(const std::string& message) { std::cerr << "refit: " << message << '\n'; }

}  // namespace refit::cli
