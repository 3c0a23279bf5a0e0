// The simulated world's time: a queue of scheduled callbacks and a "now" that jumps from one event to
// the next, so hours of upgrade simulate in milliseconds. Nothing here ever sleeps.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace refit::sim {

class VirtualClock {
 public:
  using EventId = std::uint64_t;

  struct PendingEvent {
    EventId id;
    std::int64_t at_ms;
    std::string_view label;  // valid until the event runs or is cancelled
  };

  explicit VirtualClock(std::int64_t start_ms = 0) : now_ms_(start_ms) {}

  // Milliseconds since the simulated run started.
  std::int64_t now_ms() const { return now_ms_; }

  // Runs `fn` at `at_ms` (an earlier time means now). Events at the same time run in scheduling order.
  // `label` says what the event is, for debug output and for diagnosing waits that never end.
  EventId schedule(std::int64_t at_ms, std::function<void()> fn, std::string label = {});

  // Unschedules; an event that already ran, is running or never existed is ignored.
  void cancel(EventId id);

  // The time of the earliest pending event.
  std::optional<std::int64_t> next_time() const;

  // Pops the earliest event, moves now to its time and runs it; false when nothing is pending.
  // An exception from the event propagates; the event is gone and now stays at its time.
  bool run_next();

  // Runs every event due at or before `t`, including those scheduled meanwhile, then now = max(now, t).
  void advance_to(std::int64_t t);

  std::size_t pending() const { return queue_.size(); }

  // The pending events in the order they will run.
  std::vector<PendingEvent> pending_events() const;

 private:
  struct Event {
    std::function<void()> fn;
    std::string label;
  };
  // Keyed by (time, id): ids grow with each schedule() call, so ties run in scheduling order.
  using Key = std::pair<std::int64_t, EventId>;

  std::int64_t now_ms_;
  EventId next_id_ = 1;
  std::map<Key, Event> queue_;
  std::unordered_map<EventId, std::int64_t> time_of_;  // for cancel()
};

// RFC 3339 text (second precision, UTC) for a virtual time: the simulated epoch is
// 2026-01-01T00:00:00Z, so time 0 is that instant and timestamps in dumps are reproducible.
std::string virtual_timestamp(std::int64_t ms);

// The simulated epoch (virtual time 0) in milliseconds since the Unix epoch.
std::int64_t virtual_epoch_unix_ms();

}  // namespace refit::sim
