#include "run/lease_keeper.hpp"

#include <fmt/format.h>

#include "run/utc_time.hpp"

namespace refit::run {

LeaseKeeper::LeaseKeeper(EventBus& bus, LeaseOptions options, NamedClusters targets, LeaseClock clock,
                         std::string force_unlock_command)
    : bus_(bus), options_(std::move(options)), targets_(std::move(targets)), clock_(std::move(clock)),
      force_unlock_command_(std::move(force_unlock_command)) {
  for (const auto& [name, c] : targets_) state_.push_back(Target{name, c, false, std::nullopt});
}

LeaseKeeper::~LeaseKeeper() {
  try {
    release();
  } catch (...) {
    // release() reports its own failures; a sink that throws while the run unwinds must not end it.
  }
}

std::string LeaseKeeper::lease_text() const { return lease_path(options_.playbook); }

std::string LeaseKeeper::held_message(const std::string& cluster, const LeaseState& holder) const {
  return fmt::format("cluster {} is locked by another run of {}: {} holds the Lease {} ({}). Let that run finish; "
                     "if it died, {}: {}",
                     cluster, holder.playbook.empty() ? options_.playbook : holder.playbook, holder.holder_text(),
                     lease_text(), holder.times_text(clock_()),
                     options_.clock_stands_still ? resume_holder_text(holder.holder) + ", or remove the lease now"
                                                 : std::string("refit takes the lease over once it expires, or remove "
                                                               "it now"),
                     force_unlock_command_);
}

std::string LeaseKeeper::lost_message(const std::string& cluster, const RenewResult& found) const {
  if (found.kind == RenewResult::Kind::Removed || !found.found) {
    return fmt::format("cluster {}: the Lease {} that keeps other runs out was removed (refit unlock --force, or by "
                       "hand), so this run no longer holds the cluster", cluster, lease_text());
  }
  const LeaseState& now = *found.found;
  return fmt::format("cluster {}: the Lease {} is now held by {} ({}), so this run no longer holds the cluster",
                     cluster, lease_text(), now.holder_text(), now.times_text(clock_()));
}

void LeaseKeeper::queue(std::string name, EventFields fields) { pending_.emplace_back(std::move(name), std::move(fields)); }

void LeaseKeeper::mark_lost(Target& target, const RenewResult& found) {
  if (target.lost) return;
  target.held = false;
  target.lost = lost_message(target.name, found);
  EventFields f = {{"cluster", target.name}, {"lease", lease_text()}, {"holder", options_.run_id},
                   {"message", *target.lost}};
  if (found.found) {
    f["taken_by"] = found.found->holder;
    f["taken_by_host"] = found.found->host;
  }
  queue("lease_lost", std::move(f));
}

std::optional<std::string> LeaseKeeper::acquire() {
  std::optional<std::string> refusal;
  for (Target& target : state_) {
    const std::int64_t now = clock_();
    TakeResult taken;
    try {
      taken = try_take(*target.cluster, options_, now);
    } catch (const std::exception& e) {
      refusal = fmt::format("cluster {}: cannot take the Lease {} that keeps two runs of {} from changing it at once: "
                            "{}", target.name, lease_text(), options_.playbook, e.what());
      break;
    }
    if (taken.kind == TakeResult::Kind::Held) {
      refusal = held_message(target.name, *taken.previous);
      break;
    }
    target.held = true;
    EventFields f = {{"cluster", target.name}, {"lease", lease_text()}, {"holder", options_.run_id},
                     {"duration", options_.duration_s}, {"again", taken.kind == TakeResult::Kind::TakenAgain}};
    if (taken.kind == TakeResult::Kind::TakenOver) {
      const LeaseState& old = *taken.previous;
      f["previous_holder"] = old.holder;
      f["previous_host"] = old.host;
      f["last_renewed"] = old.renewed_ms ? utc_seconds_text(*old.renewed_ms) : "";
      f["message"] = fmt::format("cluster {}: took over the Lease {} from {}, which stopped renewing it ({}): if that "
                                 "run was interrupted, what it changed is as it left it",
                                 target.name, lease_text(), old.holder_text(), old.times_text(now));
      bus_.emit_here("lease_taken_over", std::move(f));
    } else {
      bus_.emit_here("lease_acquired", std::move(f));
    }
  }
  if (refusal) release();
  return refusal;
}

void LeaseKeeper::start_renewal(const RenewalStarter& start) {
  if (!start) return;
  try {
    renewal_ = start(*this);
  } catch (const std::exception& e) {
    bus_.emit_here("log", {{"level", "warn"},
                           {"message", fmt::format("refit cannot renew its Lease {}: {}; it expires {} s from now, "
                                                   "after which another run may take the clusters over",
                                                   lease_text(), e.what(), options_.duration_s)}});
  }
}

void LeaseKeeper::renew(const std::vector<cluster::Cluster*>& connections) {
  for (std::size_t i = 0; i < connections.size(); ++i) {
    {
      std::lock_guard lock(mutex_);
      if (i >= state_.size() || !state_[i].held) continue;
    }
    const std::int64_t now = clock_();
    RenewResult result;
    std::optional<std::string> failure;
    try {
      result = run::renew(*connections[i], options_, now);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    std::lock_guard lock(mutex_);
    Target& target = state_[i];
    if (!target.held) continue;  // released meanwhile
    if (failure) {
      queue("log", {{"level", "warn"},
                    {"message", fmt::format("cluster {}: could not renew the Lease {}: {}; refit tries again in {} s "
                                            "(the lease lasts {} s from its last renewal)",
                                            target.name, lease_text(), *failure, renew_interval_ms() / 1000,
                                            options_.duration_s)}});
    } else if (result.kind != RenewResult::Kind::Renewed) {
      mark_lost(target, result);
    }
  }
}

void LeaseKeeper::renew_here() {
  std::vector<cluster::Cluster*> own;
  for (const auto& target : targets_) own.push_back(target.second);
  renew(own);
  emit_pending();
}

void LeaseKeeper::emit_pending() {
  std::vector<std::pair<std::string, EventFields>> events;
  {
    std::lock_guard lock(mutex_);
    events.swap(pending_);
  }
  for (auto& [name, fields] : events) bus_.emit_here(name, std::move(fields));
}

std::optional<std::string> LeaseKeeper::lost_reason() {
  emit_pending();
  std::lock_guard lock(mutex_);
  for (const Target& target : state_) {
    if (target.lost) return *target.lost;
  }
  return std::nullopt;
}

void LeaseKeeper::release() {
  renewal_.reset();  // no renewal runs from here on
  emit_pending();
  for (Target& target : state_) {
    if (!target.held) continue;
    target.held = false;
    std::optional<LeaseState> other;
    try {
      other = run::release(*target.cluster, options_);
    } catch (const std::exception& e) {
      bus_.emit_here("log", {{"level", "warn"},
                             {"message", fmt::format("cluster {}: could not release the Lease {}: {}; it expires {} s "
                                                     "after its last renewal, or remove it: {}",
                                                     target.name, lease_text(), e.what(), options_.duration_s,
                                                     force_unlock_command_)}});
      continue;
    }
    if (other) {
      mark_lost(target, {RenewResult::Kind::TakenByOther, other});
      emit_pending();
      continue;
    }
    bus_.emit_here("lease_released", {{"cluster", target.name}, {"lease", lease_text()}, {"holder", options_.run_id}});
  }
}

}  // namespace refit::run
