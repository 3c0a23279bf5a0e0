#include "run/runner.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "lua/fields.hpp"
#include "lua/json_bridge.hpp"
#include "report/duration_text.hpp"

namespace refit::run {

const char* status_name(RunStatus status) {
  switch (status) {
    case RunStatus::Succeeded: return "succeeded";
    case RunStatus::PreconditionFailed: return "precondition_failed";
    case RunStatus::RolledBack: return "rolled_back";
    case RunStatus::Failed: return "failed";
  }
  return "failed";
}

int exit_code(RunStatus status) {
  switch (status) {
    case RunStatus::Succeeded: return 0;
    case RunStatus::PreconditionFailed: return 2;
    case RunStatus::RolledBack: return 3;
    case RunStatus::Failed: return 4;
  }
  return 4;
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

Runner::Runner(lua::Vm& vm, RunHost& host, int playbook_ref, int ctx_ref, std::string file)
    : vm_(vm), host_(host), bus_(host.bus()), playbook_ref_(playbook_ref), ctx_ref_(ctx_ref), file_(std::move(file)) {}

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
  bus_.set_position(step, phase);
  set_ctx_step(step);
  lua_rawgeti(L, LUA_REGISTRYINDEX, table_ref);
  lua_getfield(L, -1, field);
  lua_remove(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx_ref_);
  HookResult result;
  if (auto err = vm_.pcall(1, 1)) {
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
  lua_State* L = vm_.state();
  host_.set_read_only("irreversible");
  lua_rawgeti(L, LUA_REGISTRYINDEX, step.ref);
  lua_getfield(L, -1, "irreversible");
  lua_remove(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx_ref_);
  std::string text;
  if (auto err = vm_.pcall(1, 1)) {
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

std::optional<std::string> Runner::expand(std::size_t index) {
  lua_State* L = vm_.state();
  Step each = steps_[index];
  // items(ctx) -> list
  bus_.set_position(each.name, "expand");
  set_ctx_step(each.name);
  lua_rawgeti(L, LUA_REGISTRYINDEX, each.ref);
  lua_getfield(L, -1, "items");
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx_ref_);
  if (auto err = vm_.pcall(1, 1)) {
    lua_pop(L, 1);
    return err->message;
  }
  if (!lua_istable(L, -1)) {
    lua_pop(L, 2);
    return fmt::format("{}: each \"{}\": items must return a list", file_, each.name);
  }
  int items = lua_gettop(L);
  int owner = items - 1;
  std::vector<Step> expanded;
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
    // Every step needs its own name: events, state keys and (later) resume go by it.
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
    expanded.push_back(std::move(s));
  }
  lua_settop(L, owner - 1);
  if (error) return error;
  steps_.insert(steps_.begin() + static_cast<std::ptrdiff_t>(index) + 1, expanded.begin(), expanded.end());
  bus_.emit_here("step_expanded", {{"steps", names}});
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

  if (has_hook(step, "when")) {
    HookResult r = call_hook(step, "when");
    if (!r.ok) { finish("failed", r.error); return r.error; }
    if (!r.value) { skipped("when"); return std::nullopt; }
  }
  if (has_hook(step, "done")) {
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
      if (has_hook(step, "run")) {
        step.run_started = true;
        HookResult r = call_hook(step, "run");
        if (!r.ok) { error = r.error; traceback = r.traceback; failed_phase = "run"; }
      }
      if (!error && has_hook(step, "verify")) {
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

RunOutcome Runner::roll_back(std::size_t failed_index, const std::string& error) {
  Step& failed = steps_[failed_index];
  std::string cause = fmt::format("step \"{}\" failed: {}", failed.name, error);
  if (host_.mutations() == 0) {
    return {RunStatus::RolledBack, cause + "; nothing had been changed"};
  }
  bus_.set_position("", "rollback");
  bus_.emit("rollback_started", {{"failed_step", failed.name}});

  // The failed step first (if its run started), then every completed step, newest first.
  std::vector<std::size_t> chain;
  if (failed.run_started) chain.push_back(failed_index);
  for (std::size_t i = failed_index; i-- > 0;)
    if (steps_[i].completed) chain.push_back(i);

  for (std::size_t i : chain) {
    Step& s = steps_[i];
    const bool is_failed_step = i == failed_index;
    bus_.set_position(s.name, "rollback");
    if (!is_failed_step && s.irreversible) {
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
      bus_.emit_here("step_rolled_back", {{"status", "succeeded"}});
      continue;
    }
    if (is_failed_step && s.irreversible && s.changed) {
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
  return {RunStatus::RolledBack, cause + "; rolled back"};
}

bool Runner::run_cleanups() {
  bool ok = true;
  for (std::size_t i = steps_.size(); i-- > 0;) {
    Step& s = steps_[i];
    if (!s.run_started || !has_hook(s, "cleanup")) continue;
    HookResult r = call_hook(s, "cleanup");
    bus_.set_position(s.name, "cleanup");
    EventFields f = {{"status", r.ok ? "succeeded" : "failed"}};
    if (!r.ok) f["error"] = r.error;
    bus_.emit_here("cleanup_finished", std::move(f));
    ok = ok && r.ok;
  }
  return ok;
}

RunOutcome Runner::run() {
  lua_State* L = vm_.state();
  const std::int64_t started = bus_.now();
  lua_rawgeti(L, LUA_REGISTRYINDEX, playbook_ref_);
  lua_getfield(L, -1, "steps");
  auto n = static_cast<lua_Integer>(lua_rawlen(L, -1));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, -1, i);
    steps_.push_back(read_step(-1));
    lua_pop(L, 1);
  }
  lua_pop(L, 2);

  RunOutcome outcome;
  std::string failure;
  if (!run_preflight(failure)) {
    outcome = {RunStatus::PreconditionFailed, failure + "; nothing was changed"};
  } else {
    int executed = 0, already_done = 0;
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      std::optional<std::string> error;
      bool precondition = false;
      if (steps_[i].expand) {
        error = expand(i);
        if (!error) continue;
        // The each failed to list its items: report it as a step of its own that failed.
        bus_.set_position(steps_[i].name, "");
        bus_.emit_here("step_started", {{"index", ++ordinal_}, {"irreversible", false}});
        bus_.emit_here("step_finished", {{"status", "failed"}, {"changed", false}, {"duration", 0}, {"error", *error}});
      } else {
        error = run_step(steps_[i], precondition);
      }
      if (error) {
        if (precondition && host_.mutations() == 0) {
          outcome = {RunStatus::PreconditionFailed,
                     fmt::format("step \"{}\": precondition failed: {}; nothing was changed", steps_[i].name, *error)};
        } else {
          outcome = roll_back(i, *error);
        }
        break;
      }
      if (steps_[i].completed) ++executed;
      else ++already_done;
    }
    if (outcome.status == RunStatus::Succeeded) {
      outcome.message = fmt::format("{} step{} run, {} skipped", executed, executed == 1 ? "" : "s", already_done);
    }
  }
  if (!run_cleanups() && outcome.status != RunStatus::Failed) {
    outcome = {RunStatus::Failed, outcome.message + "; a cleanup failed (see above): manual action needed"};
  }
  bus_.set_position("", "");
  set_ctx_step("");
  if (before_finish_) before_finish_();
  bus_.emit("run_finished", {{"status", status_name(outcome.status)},
                             {"exit_code", exit_code(outcome.status)},
                             {"duration", bus_.now() - started},
                             {"message", outcome.message},
                             {"changed", host_.mutations() > 0}});
  return outcome;
}

}  // namespace refit::run
