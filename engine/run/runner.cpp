#include "run/runner.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "lua/fields.hpp"
#include "lua/json_bridge.hpp"
#include "report/duration_text.hpp"
#include "run/interrupt.hpp"

namespace refit::run {

const char* status_name(RunStatus status) {
  switch (status) {
    case RunStatus::Succeeded: return "succeeded";
    case RunStatus::PreconditionFailed: return "precondition_failed";
    case RunStatus::RolledBack: return "rolled_back";
    case RunStatus::Failed: return "failed";
    case RunStatus::Interrupted: return "interrupted";
  }
  return "failed";
}

int exit_code(RunStatus status) {
  switch (status) {
    case RunStatus::Succeeded: return 0;
    case RunStatus::PreconditionFailed: return 2;
    case RunStatus::RolledBack: return 3;
    case RunStatus::Failed: return 4;
    case RunStatus::Interrupted: return 130;  // as a shell reports a process that SIGINT ended
  }
  return 4;
}

int exit_code(const RunOutcome& outcome) {
  if (outcome.rollback_requested && outcome.status == RunStatus::RolledBack) return 0;
  return exit_code(outcome.status);
}

namespace {

using lua::integer_field;
using lua::string_field;

// The label of an each item: item.name, the item itself when it is a string or number, or its position.
std::string item_label(lua_State* L, int index, std::size_t position) {
  if (lua_type(L, index) == LUA_TSTRING || lua_type(L, index) == LUA_TNUMBER) return lua_tostring(L, index);
  if (lua_istable(L, index)) {
    std::string name = string_field(L, index, "name");
    if (!name.empty()) return name;
    lua_getfield(L, index, "metadata");  // a Kubernetes object
    if (lua_istable(L, -1)) name = string_field(L, lua_gettop(L), "name");
    lua_pop(L, 1);
    if (!name.empty()) return name;
  }
  return std::to_string(position);
}

constexpr const char* kHooks[] = {"when", "done", "pre", "run", "verify", "rollback", "cleanup"};

unsigned hook_bit(const char* phase) {
  for (unsigned i = 0; i < std::size(kHooks); ++i)
    if (std::string_view(kHooks[i]) == phase) return 1u << i;
  return 0;
}

}  // namespace

Runner::Runner(lua::Vm& vm, RunHost& host, int playbook_ref, int ctx_ref, std::string file, RunnerOptions options)
    : vm_(vm), host_(host), bus_(host.bus()), playbook_ref_(playbook_ref), ctx_ref_(ctx_ref), file_(std::move(file)),
      options_(std::move(options)) {}

void Runner::stop_if_interrupted() const {
  if (interrupt::requested()) throw Interrupted{};
}

void Runner::set_ctx_step(const std::string& name) {
  if (name == ctx_step_) return;
  ctx_step_ = name;
  lua_State* L = vm_.state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx_ref_);
  if (name.empty()) lua_pushnil(L);
  else lua_pushstring(L, name.c_str());
  lua_setfield(L, -2, "step");
  lua_pop(L, 1);
}

Runner::HookResult Runner::call_function(int table_ref, const char* field, const std::string& step, const char* phase) {
  lua_State* L = vm_.state();
  stop_if_interrupted();
  bus_.set_position(step, phase);
  set_ctx_step(step);
  lua_rawgeti(L, LUA_REGISTRYINDEX, table_ref);
  lua_getfield(L, -1, field);
  lua_remove(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx_ref_);
  HookResult result;
  if (auto err = vm_.pcall(1, 1)) {
    // An error while a stop is asked for is the stop (RunHost refused the next call): not a failure.
    stop_if_interrupted();
    result.ok = false;
    result.error = err->message;
    result.traceback = err->traceback;
    return result;
  }
  result.value = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return result;
}

std::string Runner::recovery_text(const Step& step) {
  if (!step.irreversible_fn) return *step.irreversible;
  // Built from the world as the failure left it (names, versions); it only reads.
  stop_if_interrupted();
  lua_State* L = vm_.state();
  host_.set_read_only("irreversible");
  lua_rawgeti(L, LUA_REGISTRYINDEX, step.ref);
  lua_getfield(L, -1, "irreversible");
  lua_remove(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx_ref_);
  std::string text;
  if (auto err = vm_.pcall(1, 1)) {
    host_.set_read_only(nullptr);
    stop_if_interrupted();
    text = fmt::format("the step is irreversible, but its recovery text could not be built: {}", err->message);
  } else {
    if (lua_type(L, -1) == LUA_TSTRING) text = lua_tostring(L, -1);
    if (text.find_first_not_of(" \t\n") == std::string::npos) {
      text = "the step is irreversible (its recovery text function returned no text)";
    }
    lua_pop(L, 1);
  }
  host_.set_read_only(nullptr);
  return text;
}

bool Runner::has_hook(const Step& step, const char* phase) const { return (step.hooks & hook_bit(phase)) != 0; }

Runner::HookResult Runner::call_hook(const Step& step, const char* phase) {
  // Deciding phases only read the world (RunHost refuses their writes).
  std::string_view p = phase;
  bool deciding = p == "when" || p == "done" || p == "pre";
  if (deciding) host_.set_read_only(phase);
  HookResult r = call_function(step.ref, phase, step.name, phase);
  if (deciding) host_.set_read_only(nullptr);
  return r;
}

Runner::Step Runner::read_step(int index) const {
  lua_State* L = vm_.state();
  index = lua_absindex(L, index);
  Step s;
  s.name = string_field(L, index, "name");
  s.expand = string_field(L, index, "kind") == "each";
  lua_getfield(L, index, "irreversible");
  s.irreversible_fn = lua_isfunction(L, -1);
  lua_pop(L, 1);
  std::string irreversible = s.irreversible_fn ? std::string() : string_field(L, index, "irreversible");
  if (s.irreversible_fn || !irreversible.empty()) s.irreversible = irreversible;
  s.retries = static_cast<int>(integer_field(L, index, "retries").value_or(0));
  s.backoff_ms = integer_field(L, index, "backoff").value_or(10'000);
  s.timeout_ms = integer_field(L, index, "timeout");
  for (unsigned i = 0; i < std::size(kHooks); ++i) {
    lua_getfield(L, index, kHooks[i]);
    if (lua_isfunction(L, -1)) s.hooks |= 1u << i;
    lua_pop(L, 1);
  }
  lua_pushvalue(L, index);
  s.ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return s;
}

bool Runner::run_preflight(std::string& failure) {
  lua_State* L = vm_.state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, playbook_ref_);
  lua_getfield(L, -1, "preflight");
  lua_remove(L, -2);
  int checks = lua_gettop(L);
  auto n = static_cast<lua_Integer>(lua_istable(L, checks) ? lua_rawlen(L, checks) : 0);
  int failed = 0;
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, checks, i);
    std::string name = string_field(L, -1, "name");
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    bus_.set_position("", "check");
    bus_.emit("check_started", {{"check", name}});
    host_.set_read_only("check");
    HookResult r = call_function(ref, "fn", "", "check");
    host_.set_read_only(nullptr);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    if (r.ok) {
      bus_.emit("check_passed", {{"check", name}});
    } else {
      ++failed;
      bus_.emit("check_failed", {{"check", name}, {"error", r.error}, {"traceback", r.traceback}});
      if (failure.empty()) failure = fmt::format("preflight check \"{}\" failed: {}", name, r.error);
    }
  }
  lua_pop(L, 1);
  bus_.set_position("", "");
  if (n > 0) bus_.emit("preflight_finished", {{"ok", failed == 0}, {"failed", failed}});
  if (failed > 1) failure += fmt::format(" (and {} more)", failed - 1);
  return failed == 0;
}

std::optional<std::string> Runner::steps_from_items(const Step& each, std::vector<Step>& out, nlohmann::json& items_json) {
  lua_State* L = vm_.state();
  int items = lua_gettop(L);
  // The items as data, journaled so that a resume or rollback rebuilds exactly these steps.
  try {
    items_json = lua::to_json(L, items);
    if (items_json.is_object() && items_json.empty()) items_json = nlohmann::json::array();
  } catch (const std::exception&) {
    items_json = nullptr;  // an item holds a function: a resume lists the items again
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, each.ref);
  int owner = lua_gettop(L);
  std::vector<std::string> names;
  auto n = static_cast<lua_Integer>(lua_rawlen(L, items));
  std::optional<std::string> error;
  for (lua_Integer i = 1; i <= n && !error; ++i) {
    lua_getfield(L, owner, "step");
    lua_rawgeti(L, items, i);
    std::string name = fmt::format("{}[{}]", each.name, item_label(L, -1, static_cast<std::size_t>(i)));
    if (auto err = vm_.pcall(1, 1)) {
      error = err->message;
      break;
    }
    // refit.validate_step(tbl, file, name) -> normalized
    lua_getglobal(L, "require");
    lua_pushliteral(L, "refit");
    if (auto err = vm_.pcall(1, 1)) {
      lua_pop(L, 1);
      error = err->message;
      break;
    }
    lua_getfield(L, -1, "validate_step");
    lua_remove(L, -2);
    lua_insert(L, -2);
    lua_pushstring(L, file_.c_str());
    lua_pushstring(L, name.c_str());
    if (auto err = vm_.pcall(3, 1)) {
      error = err->message;
      break;
    }
    // Every step needs its own name: events, state keys and resume go by it.
    bool taken = std::find(names.begin(), names.end(), name) != names.end();
    for (const Step& existing : steps_) taken = taken || existing.name == name;
    if (taken) {
      lua_pop(L, 1);
      error = fmt::format("{}: each \"{}\": two steps would be named {}: give the items distinct names "
                          "(item.name, or the item itself when it is a string)", file_, each.name, name);
      break;
    }
    lua_pushstring(L, name.c_str());
    lua_setfield(L, -2, "name");
    Step s = read_step(-1);
    lua_pop(L, 1);
    names.push_back(s.name);
    out.push_back(std::move(s));
  }
  lua_settop(L, items - 1);
  return error;
}

std::optional<std::string> Runner::expand(std::size_t index) {
  Step each = steps_[index];
  bus_.set_position(each.name, "expand");
  set_ctx_step(each.name);
  if (auto rebuilt = rebuilt_.find(each.name); rebuilt != rebuilt_.end()) {
    // prepare rebuilt its steps from the journal and put them after it already.
    std::vector<std::string> names;
    for (std::size_t i = index + 1; i < steps_.size() && steps_[i].expanded_from == each.name; ++i)
      names.push_back(steps_[i].name);
    bus_.emit_here("step_expanded", {{"steps", names}, {"items", rebuilt->second}});
    return std::nullopt;
  }
  stop_if_interrupted();
  lua_State* L = vm_.state();
  // items(ctx) -> list
  lua_rawgeti(L, LUA_REGISTRYINDEX, each.ref);
  lua_getfield(L, -1, "items");
  lua_remove(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx_ref_);
  if (auto err = vm_.pcall(1, 1)) {
    stop_if_interrupted();
    return err->message;
  }
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return fmt::format("{}: each \"{}\": items must return a list", file_, each.name);
  }
  std::vector<Step> expanded;
  nlohmann::json items;
  if (auto error = steps_from_items(each, expanded, items)) return error;
  std::vector<std::string> names;
  for (auto& s : expanded) {
    s.expanded_from = each.name;
    names.push_back(s.name);
  }
  steps_.insert(steps_.begin() + static_cast<std::ptrdiff_t>(index) + 1, expanded.begin(), expanded.end());
  bus_.emit_here("step_expanded", {{"steps", names}, {"items", items}});
  return std::nullopt;
}

std::optional<std::string> Runner::run_step(Step& step, bool& precondition) {
  const std::int64_t started = bus_.now();
  bus_.set_position(step.name, "");
  bus_.emit_here("step_started", {{"index", ++ordinal_}, {"irreversible", step.irreversible.has_value()}});

  auto finish = [&](const char* status, const std::string& error) {
    bus_.set_position(step.name, "");
    EventFields f = {{"status", status}, {"changed", step.changed}, {"duration", bus_.now() - started}};
    if (!error.empty()) f["error"] = error;
    bus_.emit_here("step_finished", std::move(f));
  };
  auto skipped = [&](const char* reason) {
    bus_.set_position(step.name, "");
    bus_.emit_here("step_skipped", {{"reason", reason}});
  };

  // A step a resume finds interrupted after its run began: `when` decided before, and `done` (the
  // resume refused the step without one, unless told to run it again) says whether its change is there.
  const bool resumed_mid_run = step.interrupted && step.run_started;
  if (resumed_mid_run && has_hook(step, "done")) {
    HookResult r = call_hook(step, "done");
    if (!r.ok) { finish("failed", r.error); return r.error; }
    if (r.value) {
      // Its run made its change: it counts as completed (and changed) for a later rollback.
      step.completed = true;
      step.changed = true;
      bus_.set_position(step.name, "");
      bus_.emit_here("step_skipped", {{"reason", "done"}, {"completed", true}});
      return std::nullopt;
    }
  }
  if (!resumed_mid_run && has_hook(step, "when")) {
    HookResult r = call_hook(step, "when");
    if (!r.ok) { finish("failed", r.error); return r.error; }
    if (!r.value) { skipped("when"); return std::nullopt; }
  }
  if (!resumed_mid_run && has_hook(step, "done")) {
    HookResult r = call_hook(step, "done");
    if (!r.ok) { finish("failed", r.error); return r.error; }
    if (r.value) { skipped("done"); return std::nullopt; }
  }

  if (step.timeout_ms) host_.set_deadline(started + *step.timeout_ms, step.name, *step.timeout_ms);
  std::optional<std::string> error;
  if (has_hook(step, "pre")) {
    HookResult r = call_hook(step, "pre");
    if (!r.ok) {
      precondition = true;
      error = r.error;
      bus_.emit_here("phase_failed", {{"attempt", 1}, {"error", r.error}, {"traceback", r.traceback}});
    }
  }
  if (!error) {
    std::int64_t delay = step.backoff_ms;
    for (int attempt = 1;; ++attempt) {
      const std::int64_t before = host_.mutations();
      error.reset();
      const char* failed_phase = nullptr;
      std::string traceback;
      // phase_started marks, in the journal, that a phase began: a resume re-runs a step
      // interrupted before its run began, and asks `done` about one interrupted after.
      if (has_hook(step, "run")) {
        stop_if_interrupted();
        step.run_started = true;
        bus_.set_position(step.name, "run");
        bus_.emit_here("phase_started");
        HookResult r = call_hook(step, "run");
        if (!r.ok) { error = r.error; traceback = r.traceback; failed_phase = "run"; }
      }
      if (!error && has_hook(step, "verify")) {
        stop_if_interrupted();
        bus_.set_position(step.name, "verify");
        bus_.emit_here("phase_started");
        HookResult r = call_hook(step, "verify");
        if (!r.ok) { error = r.error; traceback = r.traceback; failed_phase = "verify"; }
      }
      if (host_.mutations() > before) step.changed = true;
      if (!error) break;
      bus_.set_position(step.name, failed_phase);
      bus_.emit_here("phase_failed", {{"attempt", attempt}, {"error", *error}, {"traceback", traceback}});
      if (attempt > step.retries) break;
      bus_.set_position(step.name, "");
      bus_.emit_here("retry", {{"attempt", attempt + 1}, {"delay", delay}});
      try {
        host_.sleep(delay);
      } catch (const std::exception& e) {
        stop_if_interrupted();
        error = e.what();
        break;
      }
      delay *= 2;
    }
  }
  host_.set_deadline(std::nullopt, "", 0);
  if (error) {
    finish("failed", *error);
    return error;
  }
  step.completed = true;
  finish("succeeded", "");
  return std::nullopt;
}

RunOutcome Runner::roll_back(std::optional<std::size_t> head, const std::string& cause) {
  if (!changed_anything() && options_.mode != "rollback") {
    return {RunStatus::RolledBack, cause + "; nothing had been changed"};
  }
  bus_.set_position("", "rollback");
  EventFields started = {{"failed_step", head ? steps_[*head].name : std::string()}};
  if (options_.mode == "rollback") started["requested"] = true;
  bus_.emit("rollback_started", std::move(started));

  // The head first (if its run started), then every completed step before it, newest first; what
  // an earlier session rolled back already is done.
  std::vector<std::size_t> chain;
  std::size_t end = head ? *head : steps_.size();
  if (head && steps_[*head].run_started && !steps_[*head].rolled_back) chain.push_back(*head);
  for (std::size_t i = end; i-- > 0;)
    if (steps_[i].completed && !steps_[i].rolled_back) chain.push_back(i);

  for (std::size_t i : chain) {
    Step& s = steps_[i];
    const bool is_head = head && i == *head;
    bus_.set_position(s.name, "rollback");
    if (!is_head && s.irreversible) {
      bus_.emit_here("irreversible_reached", {{"recovery", recovery_text(s)}});
      return {RunStatus::Failed,
              fmt::format("{}; rolled back to step \"{}\", which is irreversible (its recovery text says what to do)",
                          cause, s.name)};
    }
    if (has_hook(s, "rollback")) {
      HookResult r = call_hook(s, "rollback");
      bus_.set_position(s.name, "rollback");
      if (!r.ok) {
        bus_.emit_here("step_rolled_back", {{"status", "failed"}, {"error", r.error}});
        return {RunStatus::Failed, fmt::format("{}; the rollback of step \"{}\" failed: {}", cause, s.name, r.error)};
      }
      s.rolled_back = true;
      bus_.emit_here("step_rolled_back", {{"status", "succeeded"}});
      continue;
    }
    if (is_head && s.irreversible && s.changed) {
      bus_.emit_here("irreversible_reached", {{"recovery", recovery_text(s)}});
      return {RunStatus::Failed, fmt::format("{}; the step is irreversible, so nothing was rolled back (its recovery "
                                             "text says what to do)", cause)};
    }
    if (s.changed) {
      bus_.emit_here("step_rolled_back", {{"status", "none"}});
      return {RunStatus::Failed,
              fmt::format("{}; step \"{}\" changed the world and has no rollback", cause, s.name)};
    }
  }
  return {RunStatus::RolledBack, cause + (changed_anything() ? "; rolled back" : "; nothing had been changed")};
}

bool Runner::run_cleanups() {
  bool ok = true;
  for (std::size_t i = steps_.size(); i-- > 0;) {
    Step& s = steps_[i];
    if (!s.run_started || s.cleaned_up || !has_hook(s, "cleanup")) continue;
    HookResult r = call_hook(s, "cleanup");
    bus_.set_position(s.name, "cleanup");
    EventFields f = {{"status", r.ok ? "succeeded" : "failed"}};
    if (!r.ok) f["error"] = r.error;
    bus_.emit_here("cleanup_finished", std::move(f));
    ok = ok && r.ok;
  }
  return ok;
}

void Runner::prepare() {
  lua_State* L = vm_.state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, playbook_ref_);
  lua_getfield(L, -1, "steps");
  auto n = static_cast<lua_Integer>(lua_rawlen(L, -1));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, -1, i);
    steps_.push_back(read_step(-1));
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  prepared_ = true;
  if (options_.history) apply_history();
}

RunOutcome Runner::run_steps() {
  RunOutcome outcome;
  std::string failure;
  const journal::RunHistory* history = options_.history;
  if (history) {
    EventFields resumed = {{"run_id", options_.run_id}, {"from_step", resume_from()},
                           {"preflight", !history->preflight_passed}};
    bus_.emit("run_resumed", std::move(resumed));
  }
  // A resume runs the preflight checks again only when they never passed: once the run has
  // changed the world, they may no longer hold (a check that no upgrade is under way, say).
  if ((!history || !history->preflight_passed) && !run_preflight(failure)) {
    return {RunStatus::PreconditionFailed, failure + (changed_anything() ? "" : "; nothing was changed")};
  }
  int executed = 0, already_done = 0, before = 0;
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    std::optional<std::string> error;
    bool precondition = false;
    Step& step = steps_[i];
    bus_.set_position("", "");
    stop_if_interrupted();  // between two steps
    if (step.expand) {
      error = expand(i);
      if (!error) continue;
      // The each failed to list its items: report it as a step of its own that failed.
      bus_.set_position(steps_[i].name, "");
      bus_.emit_here("step_started", {{"index", ++ordinal_}, {"irreversible", false}});
      bus_.emit_here("step_finished", {{"status", "failed"}, {"changed", false}, {"duration", 0}, {"error", *error}});
    } else if (step.finished_before) {
      bus_.set_position(step.name, "");
      bus_.emit_here("step_skipped", {{"reason", "completed"}, {"index", ++ordinal_}});
      ++before;
      continue;
    } else {
      error = run_step(step, precondition);
    }
    if (error) {
      if (precondition && !changed_anything()) {
        return {RunStatus::PreconditionFailed,
                fmt::format("step \"{}\": precondition failed: {}; nothing was changed", steps_[i].name, *error)};
      }
      return roll_back(i, fmt::format("step \"{}\" failed: {}", steps_[i].name, *error));
    }
    if (steps_[i].completed) ++executed;
    else ++already_done;
  }
  outcome.message = fmt::format("{} step{} run, {} skipped", executed, executed == 1 ? "" : "s", already_done);
  if (before > 0) outcome.message += fmt::format(", {} finished before the interruption", before);
  return outcome;
}

RunOutcome Runner::interrupted_outcome() {
  std::string where;
  const std::string& step = bus_.step();
  const std::string& phase = bus_.phase();
  if (phase == "check") where = " during the preflight checks";
  else if (phase == "rollback" && step.empty()) where = " while rolling back";
  else if (!step.empty() && !phase.empty()) where = fmt::format(" in step \"{}\" ({})", step, phase);
  else if (!step.empty()) where = fmt::format(" in step \"{}\"", step);
  else if (phase.empty()) where = " between steps";
  // A signal interrupts; a journal that could not be written stops the run too, for its own reason.
  std::string cause = interrupt::cause();
  std::string by = cause.rfind("SIG", 0) == 0 ? "interrupted by " + cause : "stopped (" + cause + ")";
  std::string message = fmt::format("{}{}: stopped before its next call, nothing rolled back", by, where);
  bus_.emit_here("run_interrupted", {{"message", message}});
  if (!options_.run_id.empty()) {
    message += fmt::format("; continue with refit resume {0}, or undo it with refit rollback {0}", options_.run_id);
  }
  return {RunStatus::Interrupted, message};
}

RunOutcome Runner::run() {
  const std::int64_t started = bus_.now();
  if (!prepared_) prepare();
  changed_before_ = options_.history && options_.history->changed;

  RunOutcome outcome;
  bool stopped = false;
  try {
    outcome = options_.mode == "rollback" ? roll_back_journaled() : run_steps();
    if (!run_cleanups() && outcome.status != RunStatus::Failed) {
      outcome = {RunStatus::Failed, outcome.message + "; a cleanup failed (see above): manual action needed"};
    }
  } catch (const Interrupted&) {
    stopped = true;
  }
  if (stopped) outcome = interrupted_outcome();
  outcome.rollback_requested = options_.mode == "rollback";
  bus_.set_position("", "");
  set_ctx_step("");
  bus_.emit("run_finished", {{"status", status_name(outcome.status)},
                             {"exit_code", exit_code(outcome)},
                             {"duration", bus_.now() - started},
                             {"message", outcome.message},
                             {"changed", host_.mutations() > 0}});
  return outcome;
}

}  // namespace refit::run
