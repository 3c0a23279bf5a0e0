// The runner continuing a journaled run (docs/durable-runs.md): the steps rebuilt as the journal has
// them, the resume's refusal of an interrupted step it cannot judge, and the rollback of the run.
#include <algorithm>

#include <fmt/format.h>

#include "lua/json_bridge.hpp"
#include "run/runner.hpp"

namespace refit::run {

void Runner::rebuild_expansion(std::size_t index, const journal::Expansion& journaled) {
  const journal::RunHistory& history = *options_.history;
  Step each = steps_[index];
  lua_State* L = vm_.state();
  std::vector<Step> built;
  nlohmann::json items;
  std::optional<std::string> error;
  if (journaled.items.is_array()) {
    // Exactly the steps the run had, even when the world no longer yields these items.
    lua::push_json(L, journaled.items);
    error = steps_from_items(each, built, items);
  } else {
    // The items were not data (a function in one): list them again, unreported (no session has
    // begun), and find the journaled steps among them.
    bus_.set_muted(true);
    bus_.set_position(each.name, "expand");
    set_ctx_step(each.name);
    lua_rawgeti(L, LUA_REGISTRYINDEX, each.ref);
    lua_getfield(L, -1, "items");
    lua_remove(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx_ref_);
    if (auto err = vm_.pcall(1, 1)) {
      error = err->message;
    } else if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      error = "items must return a list";
    } else {
      error = steps_from_items(each, built, items);
    }
    bus_.set_muted(false);
    bus_.set_position("", "");
  }
  if (error) {
    throw RunRefused(fmt::format("{}: each \"{}\": its steps cannot be rebuilt as run {} had them: {}", file_,
                                 each.name, options_.run_id, *error));
  }
  for (const auto& name : journaled.steps) {
    const journal::StepRecord* record = history.step(name);
    if (record == nullptr || !record->started) continue;
    bool found = std::any_of(built.begin(), built.end(), [&](const Step& s) { return s.name == name; });
    if (!found) {
      throw RunRefused(fmt::format(
          "{}: each \"{}\": step \"{}\" ran in run {}, but {}: refit cannot continue a step it cannot rebuild; "
          "undo or finish it by hand", file_, each.name, name, options_.run_id,
          journaled.items.is_array() ? "the playbook no longer makes it from the journaled items (it changed)"
                                     : "the each's items, listed again (they were not data), no longer yield it"));
    }
  }
  for (auto& s : built) s.expanded_from = each.name;
  steps_.insert(steps_.begin() + static_cast<std::ptrdiff_t>(index) + 1, built.begin(), built.end());
  rebuilt_[each.name] = items;
}

void Runner::apply_history() {
  const journal::RunHistory& history = *options_.history;
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    if (!steps_[i].expand || !steps_[i].expanded_from.empty()) continue;
    if (const journal::Expansion* e = history.expansion(steps_[i].name)) rebuild_expansion(i, *e);
  }
  for (Step& s : steps_) {
    if (s.expand) continue;
    const journal::StepRecord* record = history.step(s.name);
    if (record == nullptr) continue;
    s.run_started = record->run_started;
    s.completed = record->completed;
    s.changed = record->changed;
    s.rolled_back = record->rolled_back;
    s.cleaned_up = record->cleaned_up;
    s.finished_before = record->finished && (record->status == "succeeded" || record->status == "skipped");
    s.interrupted = record->started && !record->finished;
  }
  if (options_.mode == "rollback") {
    // Every change the journal holds must have its step, or the rollback would pass over it.
    for (const auto& record : history.steps) {
      if (!(record.completed || record.run_started) || record.rolled_back) continue;
      bool found = std::any_of(steps_.begin(), steps_.end(), [&](const Step& s) { return s.name == record.name; });
      if (!found) {
        throw RunRefused(fmt::format("cannot roll back run {}: its step \"{}\" ran, but {} has no such step any more "
                                     "(the playbook changed since): undo that step by hand, or roll back with the "
                                     "playbook as it was", options_.run_id, record.name, file_));
      }
    }
  }
  if (options_.mode == "resume") refuse_unsafe_resume();
}

void Runner::refuse_unsafe_resume() const {
  if (options_.rerun_interrupted) return;
  for (const Step& s : steps_) {
    if (!s.interrupted || !s.run_started || has_hook(s, "done")) continue;
    throw RunRefused(fmt::format(
        "step \"{0}\" of run {1} was interrupted after its run began, and the step has no `done` to tell whether its "
        "change was made: running it again could make that change a second time. Check what it did (its events are "
        "in {2}) and the state of the clusters, then either run it again with refit resume {1} --rerun-interrupted, "
        "or undo the run with refit rollback {1}",
        s.name, options_.run_id, options_.history->path));
  }
}

std::string Runner::resume_from() const {
  for (const Step& s : steps_) {
    if (s.expand && rebuilt_.count(s.name) == 0) return s.name;  // not expanded yet: it lists its items then
    if (!s.expand && !s.finished_before) return s.name;
  }
  return "";
}

RunOutcome Runner::roll_back_journaled() {
  const journal::RunHistory& history = *options_.history;
  std::optional<std::size_t> head;
  std::string status = history.status();
  std::string cause = status == "succeeded" ? fmt::format("run {} had succeeded", options_.run_id)
                      : status == "failed"  ? fmt::format("run {} had failed", options_.run_id)
                                            : fmt::format("run {} stopped between steps", options_.run_id);
  if (const journal::StepRecord* last = history.last_incomplete_step()) {
    for (std::size_t i = 0; i < steps_.size(); ++i)
      if (!steps_[i].expand && steps_[i].name == last->name) head = i;
    cause = fmt::format("run {} {} in step \"{}\"", options_.run_id, last->finished ? "failed" : "stopped", last->name);
  }
  return roll_back(head, cause);
}

}  // namespace refit::run
