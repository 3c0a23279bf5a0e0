#include "run/run_host.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "cluster/kinds.hpp"
#include "lua/guard.hpp"
#include "run/interrupt.hpp"
#include "run/local_file.hpp"
#include "report/duration_text.hpp"

namespace refit::run {

using report::duration_text;

void RunHost::set_deadline(std::optional<std::int64_t> at, std::string step, std::int64_t timeout_ms) {
  deadline_ = at;
  deadline_step_ = std::move(step);
  deadline_timeout_ = timeout_ms;
}

std::int64_t RunHost::bounded(std::int64_t wanted) const {
  return deadline_ ? std::min(wanted, *deadline_) : wanted;
}

void RunHost::throw_deadline(const std::string& doing) const {
  throw lua::Error(fmt::format("step \"{}\" timed out: its timeout of {} ran out {}", deadline_step_,
                               duration_text(deadline_timeout_), doing), 0);
}

namespace {

std::string describe_ref(const cluster::ObjectRef& ref) {
  return ref.ns.empty() ? fmt::format("{} {}", ref.kind, ref.name) : fmt::format("{} {}/{}", ref.kind, ref.ns, ref.name);
}

// level: 1 for a cluster handle's write (the playbook line that called it), 0 for a command (ctx
// adds the position itself).
[[noreturn]] void refuse_in(const char* phase, const std::string& what, int level) {
  if (std::string_view(phase) == "snapshot") {
    throw lua::Error(fmt::format("a snapshot hook only reads the live clusters ({}): refit plan and refit snapshot "
                                 "never change them", what), level);
  }
  if (std::string_view(phase) == "irreversible") {
    throw lua::Error(fmt::format("an irreversible step's recovery text function must only read the world ({}): "
                                 "build the text from what it reads", what), level);
  }
  throw lua::Error(fmt::format("{} must not change the world ({}): a failed check or precondition promises that "
                               "nothing changed; move the change to the step's run",
                               std::string_view(phase) == "check" ? "a preflight check" : "a step's " + std::string(phase),
                               what), level);
}

}  // namespace

void RunHost::refuse_if_stopping() {
  if (!interrupt::requested()) return;
  vm_.stop_unwinding();
  throw lua::Error(fmt::format("the run is stopping ({}): it makes no further call", interrupt::cause()), 0);
}

void RunHost::before_mutation(const std::string&, const std::string& verb, const cluster::ObjectRef& ref) {
  refuse_if_stopping();
  if (read_only_phase_ != nullptr) refuse_in(read_only_phase_, verb + " " + describe_ref(ref), 1);
}

void RunHost::on_mutation(const std::string& cluster, const std::string& verb, const cluster::ObjectRef& ref,
                          const nlohmann::json* patch) {
  ++mutations_;
  EventFields f = EventFields::object();
  f["cluster"] = cluster;
  f["verb"] = verb;
  if (ref.api_version.empty()) {
    const BuiltinKind* builtin = find_builtin_kind(ref.kind);
    f["apiVersion"] = builtin != nullptr ? std::string(builtin->api_version) : std::string();
  } else {
    f["apiVersion"] = ref.api_version;
  }
  f["kind"] = ref.kind;
  if (!ref.ns.empty()) f["namespace"] = ref.ns;
  f["name"] = ref.name;
  if (patch != nullptr) {
    f["patch"] = *patch;
    // A Secret's values never appear in a report, whatever the playbook's parameters say.
    if (ref.kind == "Secret" && f["patch"].is_object()) {
      for (const char* field : {"data", "stringData"}) {
        auto it = f["patch"].find(field);
        if (it != f["patch"].end() && it->is_object())
          for (auto& value : *it) value = "***";
      }
    }
  }
  bus_.emit_here("mutation", std::move(f));
}

void RunHost::wait(const std::string& what, int predicate_index, std::int64_t timeout_ms, std::int64_t interval_ms) {
  lua_State* L = vm_.state();
  predicate_index = lua_absindex(L, predicate_index);
  const std::int64_t start = timeline_.now();
  const std::int64_t own_deadline = start + timeout_ms;
  const std::int64_t deadline = bounded(own_deadline);
  interval_ms = std::max<std::int64_t>(interval_ms, 1);
  bus_.emit_here("wait_started", {{"what", what}, {"timeout", timeout_ms}});

  ++wait_depth_;
  timeline_.wait_began();
  std::int64_t saved_polls = polls_;
  polls_ = 0;
  std::string reason;
  auto finish = [&](bool ok) {
    EventFields f = {{"what", what}, {"ok", ok}, {"waited", timeline_.now() - start}};
    if (polls_ > 0) f["polls"] = polls_;
    if (!ok && !reason.empty()) f["reason"] = reason;
    --wait_depth_;
    timeline_.wait_ended();
    polls_ = saved_polls;
    bus_.emit_here("wait_finished", std::move(f));
  };

  for (;;) {
    // A wait only reads: it stops at its next poll.
    if (interrupt::requested()) {
      reason = "the run is stopping";
      finish(false);
      refuse_if_stopping();
    }
    lua_pushvalue(L, predicate_index);
    auto error = vm_.pcall(0, 2);
    if (error) {
      reason = error->message;
      finish(false);
      throw lua::Error(error->message, 0);
    }
    bool ok = lua_toboolean(L, -2);
    if (!ok && lua_type(L, -1) == LUA_TSTRING) reason = lua_tostring(L, -1);
    lua_pop(L, 2);
    if (ok) {
      finish(true);
      return;
    }
    std::int64_t now = timeline_.now();
    if (now >= deadline) break;
    // Poll at the interval even when nothing is scheduled: a model may derive state from time alone.
    std::int64_t next = std::min(now + interval_ms, deadline);
    try {
      timeline_.advance_to(next);
    } catch (const std::exception& e) {
      reason = e.what();
      finish(false);
      throw lua::Error(e.what(), 0);
    }
  }
  finish(false);
  std::string tail = reason.empty() ? "" : ": " + reason;
  if (deadline_ && deadline < own_deadline) throw_deadline(fmt::format("waiting for {}{}", what, tail));
  throw lua::Error(fmt::format("timed out after {} waiting for {}{}", duration_text(timeout_ms), what, tail), 0);
}

void RunHost::sleep(std::int64_t ms) {
  refuse_if_stopping();
  std::int64_t until = timeline_.now() + std::max<std::int64_t>(ms, 0);
  timeline_.advance_to(bounded(until));
  refuse_if_stopping();  // a real world's clock returns early when a stop is asked for
  if (deadline_ && until > *deadline_) throw_deadline(fmt::format("during a sleep of {}", duration_text(ms)));
}

exec::Result RunHost::exec(const exec::Request& request) {
  // The display form is for refusals, warnings and timeouts only: a wait's polls never need it.
  auto command = [&request] { return exec::display_command(request.argv); };
  refuse_if_stopping();
  if (request.mutates && read_only_phase_ != nullptr) refuse_in(read_only_phase_, "runs " + command(), 0);
  const std::int64_t start = timeline_.now();
  if (deadline_ && start >= *deadline_) throw_deadline("before " + command());

  exec::Result result = executor_.run(request);

  // The command ends when it says, unless its own timeout or the step's deadline comes first.
  std::int64_t finish = std::max(timeline_.now(), start + result.duration_ms);
  bool command_timed_out = request.timeout_ms && finish > start + *request.timeout_ms;
  if (command_timed_out) finish = start + *request.timeout_ms;
  bool step_timed_out = deadline_ && finish > *deadline_;
  if (step_timed_out) finish = *deadline_;

  // A change is what succeeded while marked mutating, or what the executor saw change.
  bool changed = result.changed || (request.mutates && result.code == 0);
  if (changed) ++mutations_;
  if (result.changed && !request.mutates) {
    bus_.emit_here("log", {{"level", "warn"},
                           {"message", fmt::format("{} changed the simulated world but is not marked mutates = true: "
                                                   "mark it, so that a plan against real clusters never runs it", command())}});
  }
  // Read-only polls inside a wait are counted on the wait, not listed one by one.
  if (wait_depth_ > 0 && !request.mutates && !changed) {
    ++polls_;
  } else {
    EventFields f = {{"argv", request.argv}, {"mutates", request.mutates}, {"changed", changed},
                     {"code", result.code}, {"duration", finish - start}};
    if (command_timed_out || step_timed_out) f["timed_out"] = true;
    bus_.emit_here("command", std::move(f));
  }
  timeline_.advance_to(finish);
  if (step_timed_out) throw_deadline("running " + command());
  if (command_timed_out) {
    throw lua::Error(fmt::format("timed out after {} running {}", duration_text(*request.timeout_ms), command()), 0);
  }
  return result;
}

void RunHost::log(const std::string& level, const std::string& message) {
  bus_.emit_here("log", {{"level", level}, {"message", message}});
}

void RunHost::write_file(const std::string& path, const std::string& content) {
  refuse_if_stopping();
  if (read_only_phase_ != nullptr) refuse_in(read_only_phase_, "writes " + path, 0);
  if (path.empty()) throw lua::Error("ctx:write_file: the path is empty", 0);
  if (writes_files_) {
    try {
      local_file::write_private(path, content);
    } catch (const std::exception& e) {
      throw lua::Error(e.what(), 0);
    }
  }
  bus_.emit_here("file_written", {{"path", path}, {"bytes", content.size()}, {"written", writes_files_}});
}

cluster::Cluster* RunHost::connect(const std::string& kubeconfig_text, const std::string& name) {
  refuse_if_stopping();
  try {
    return connector_(kubeconfig_text, name);
  } catch (const std::exception& e) {
    throw lua::Error(e.what(), 0);
  }
}

void RunHost::state_set(const std::string& key, const nlohmann::json& value) {
  bus_.emit_here("state_set", {{"key", key}, {"value", value}});
}

}  // namespace refit::run
