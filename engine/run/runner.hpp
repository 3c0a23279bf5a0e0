// The runner: preflight, then each step's phases with retries and timeout, and on failure the
// rollback chain and the cleanups (docs/playbooks.md, "Semantics"). Everything it does is an event.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lua/vm.hpp"
#include "run/event.hpp"
#include "run/run_host.hpp"

namespace refit::run {

enum class RunStatus { Succeeded, PreconditionFailed, RolledBack, Failed };

const char* status_name(RunStatus status);
int exit_code(RunStatus status);

struct RunOutcome {
  RunStatus status = RunStatus::Succeeded;
  std::string message;
};

class Runner {
 public:
  // `playbook_ref`: refit.validate's table; `ctx_ref`: the ctx table (both in the registry).
  Runner(lua::Vm& vm, RunHost& host, int playbook_ref, int ctx_ref, std::string file);

  // Runs to the end and emits run_finished.
  RunOutcome run();

  // Called once the run is over, just before run_finished (the session releases its leases there, so
  // that run_finished stays the last event).
  void set_before_finish(std::function<void()> fn) { before_finish_ = std::move(fn); }

 private:
  struct Step {
    int ref = LUA_NOREF;       // normalized step table
    std::string name;
    bool expand = false;       // a refit.each
    std::optional<std::string> irreversible;  // the recovery text; empty when irreversible_fn builds it
    bool irreversible_fn = false;              // irreversible = function(ctx): the text, built when needed
    int retries = 0;
    std::int64_t backoff_ms = 10'000;
    std::optional<std::int64_t> timeout_ms;
    unsigned hooks = 0;        // bit i set: the hook kHooks[i] is a function (read once)
    bool run_started = false;
    bool completed = false;
    bool changed = false;      // its run or verify mutated the world
  };

  // A hook's outcome: ok, its boolean result, or the error.
  struct HookResult {
    bool ok = true;
    bool value = false;
    std::string error;
    std::string traceback;   // the Lua stack at the error, for -v
  };

  bool has_hook(const Step& step, const char* phase) const;
  // The recovery text of an irreversible step: its string, or what its function returns now.
  std::string recovery_text(const Step& step);
  HookResult call_hook(const Step& step, const char* phase);
  HookResult call_function(int table_ref, const char* field, const std::string& step, const char* phase);

  bool run_preflight(std::string& failure);
  Step read_step(int table_index) const;
  // Expands a refit.each into steps inserted after it. Returns the error, if any.
  std::optional<std::string> expand(std::size_t index);
  // Runs one step; returns the error when it failed.
  std::optional<std::string> run_step(Step& step, bool& precondition);
  RunOutcome roll_back(std::size_t failed_index, const std::string& error);
  bool run_cleanups();
  void set_ctx_step(const std::string& name);

  lua::Vm& vm_;
  RunHost& host_;
  EventBus& bus_;
  int playbook_ref_;
  int ctx_ref_;
  std::string file_;
  std::vector<Step> steps_;
  std::string ctx_step_;  // what ctx.step holds now, so it is written only when it changes
  int ordinal_ = 0;  // steps started so far: the number people see (an each is not one)
  std::function<void()> before_finish_;
};

}  // namespace refit::run
