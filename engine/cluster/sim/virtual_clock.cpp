#include "cluster/sim/virtual_clock.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

namespace refit::sim {

VirtualClock::EventId VirtualClock::schedule(std::int64_t at_ms, std::function<void()> fn, std::string label) {
  at_ms = std::max(at_ms, now_ms_);
  EventId id = next_id_++;
  queue_.emplace(Key{at_ms, id}, Event{std::move(fn), std::move(label)});
  time_of_.emplace(id, at_ms);
  return id;
}

void VirtualClock::cancel(EventId id) {
  auto it = time_of_.find(id);
  if (it == time_of_.end()) return;
  queue_.erase(Key{it->second, id});
  time_of_.erase(it);
}

std::optional<std::int64_t> VirtualClock::next_time() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first.first;
}

bool VirtualClock::run_next() {
  if (queue_.empty()) return false;
  // Taken out of the queue before it runs, so that it may schedule and cancel freely.
  auto node = queue_.extract(queue_.begin());
  time_of_.erase(node.key().second);
  now_ms_ = std::max(now_ms_, node.key().first);
  node.mapped().fn();
  return true;
}

void VirtualClock::advance_to(std::int64_t t) {
  while (!queue_.empty() && queue_.begin()->first.first <= t) run_next();
  now_ms_ = std::max(now_ms_, t);
}

std::vector<VirtualClock::PendingEvent> VirtualClock::pending_events() const {
  std::vector<PendingEvent> events;
  events.reserve(queue_.size());
  for (const auto& [key, event] : queue_) events.push_back({key.second, key.first, event.label});
  return events;
}

namespace {
constexpr std::chrono::sys_days kEpoch = std::chrono::year{2026} / std::chrono::January / 1;
}  // namespace

std::int64_t virtual_epoch_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(kEpoch.time_since_epoch()).count();
}

std::string virtual_timestamp(std::int64_t ms) {
  using namespace std::chrono;
  auto instant = kEpoch + floor<seconds>(milliseconds{ms});
  auto day = floor<days>(instant);
  year_month_day date{day};
  hh_mm_ss time{instant - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), time.hours().count(),
                     time.minutes().count(), time.seconds().count());
}

}  // namespace refit::sim
