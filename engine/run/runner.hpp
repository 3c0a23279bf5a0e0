// The runner: preflight, then each step's phases with retries and timeout, and on failure the
// rollback chain and the cleanups (docs/playbooks.md, "Semantics"). Everything it does is an event.
// It also continues a journaled run (docs/durable-runs.md): a resume skips what finished and goes
// on from the interrupted step; a rollback undoes what the run did. An interrupt stops it before
// its next call (run/interrupt.hpp).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lua/vm.hpp"
#include "run/event.hpp"
#include "run/journal_reader.hpp"
#include "run/run_host.hpp"

namespace refit::run {

enum class RunStatus { Succeeded, PreconditionFailed, RolledBack, Failed, Interrupted };

const char* status_name(RunStatus status);
int exit_code(RunStatus status);

struct RunOutcome {
  RunStatus status = RunStatus::Succeeded;
  std::string message;
  bool rollback_requested = false;   // refit rollback: rolled back is what was asked, so exit 0
};

// The exit code of an outcome: as its status says, except that a rollback asked for succeeds with 0.
int exit_code(const RunOutcome& outcome);

// A journaled run that cannot be continued as asked (prepare finds it before anything happens).
struct RunRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct RunnerOptions {
  std::string mode = "apply";                        // plan | apply | resume | rollback
  const journal::RunHistory* history = nullptr;      // resume and rollback: what the journal says
  std::string run_id;                                // a journaled run's id, for the messages
  bool rerun_interrupted = false;                    // resume --rerun-interrupted
};

class Runner {
 public:
  // `playbook_ref`: refit.validate's table; `ctx_ref`: the ctx table (both in the registry).
  Runner(lua::Vm& vm, RunHost& host, int playbook_ref, int ctx_ref, std::string file, RunnerOptions options = {});

  // Reads the steps and, continuing a journaled run, rebuilds them as the journal has them (each
  // expansions from their journaled items). Call before run_started: throws RunRefused when the
  // run cannot go on (an interrupted step without `done`), with nothing emitted or changed.
  void prepare();

  // Runs to the end (or to an interrupt) and emits run_finished.
  RunOutcome run();

 private:
  // Thrown (never through Lua) when an interrupt stops the run before its next call.
  struct Interrupted {};

  struct Step {
    int ref = LUA_NOREF;       // normalized step table
    std::string name;
    bool expand = false;       // a refit.each
    std::string expanded_from; // the each it came from
    std::optional<std::string> irreversible;  // the recovery text; empty when irreversible_fn builds it
    bool irreversible_fn = false;              // irreversible = function(ctx): the text, built when needed
    int retries = 0;
    std::int64_t backoff_ms = 10'000;
    std::optional<std::int64_t> timeout_ms;
    unsigned hooks = 0;        // bit i set: the hook kHooks[i] is a function (read once)
    bool run_started = false;
    bool completed = false;
    bool changed = false;      // its run or verify mutated the world
    // From the journal of the run being continued:
    bool finished_before = false;  // it finished (succeeded or skipped): a resume passes over it
    bool interrupted = false;      // it started and never finished
    bool rolled_back = false;      // its rollback already ran
    bool cleaned_up = false;       // its cleanup already ran
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
  // Expands a refit.each into steps inserted after it (or inserts what prepare rebuilt from the
  // journal). Returns the error, if any.
  std::optional<std::string> expand(std::size_t index);
  // The steps of an each from its items (the list on top of the Lua stack, which it pops); `items`
  // gets the items as data (null when they are not). Returns the error, if any.
  std::optional<std::string> steps_from_items(const Step& each, std::vector<Step>& out, nlohmann::json& items);
  // Runs one step; returns the error when it failed.
  std::optional<std::string> run_step(Step& step, bool& precondition);
  // Undoes `head` (the failed or interrupted step, if its run started), then every completed step
  // before it, newest first; `cause` opens the outcome's message.
  RunOutcome roll_back(std::optional<std::size_t> head, const std::string& cause);
  bool run_cleanups();
  void set_ctx_step(const std::string& name);

  // Continuing a journaled run (runner_journaled.cpp).
  void rebuild_expansion(std::size_t each_index, const journal::Expansion& journaled);
  void apply_history();
  void refuse_unsafe_resume() const;
  RunOutcome run_steps();
  RunOutcome roll_back_journaled();
  std::string resume_from() const;

  // Throws Interrupted when a stop was asked for.
  void stop_if_interrupted() const;
  RunOutcome interrupted_outcome();
  bool changed_anything() const { return changed_before_ || host_.mutations() > 0; }

  lua::Vm& vm_;
  RunHost& host_;
  EventBus& bus_;
  int playbook_ref_;
  int ctx_ref_;
  std::string file_;
  RunnerOptions options_;
  std::vector<Step> steps_;
  bool prepared_ = false;
  bool changed_before_ = false;  // an earlier session of the run changed the world
  // Each expansions rebuilt from the journal: the each's name -> its items, for step_expanded.
  std::map<std::string, nlohmann::json> rebuilt_;
  std::string ctx_step_;  // what ctx.step holds now, so it is written only when it changes
  int ordinal_ = 0;  // steps started so far: the number people see (an each is not one)
};

}  // namespace refit::run
