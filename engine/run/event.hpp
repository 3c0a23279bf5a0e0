// Run events (docs/events.md): everything a run does is one, and every report is a sink of them.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace refit::run {

// Fields are a plain JSON object (keys sorted): "event", "time", "step" and "phase" come first in
// every rendering, the rest in key order, which keeps output deterministic and copying cheap.
using EventFields = nlohmann::json;

struct Event {
  std::string name;
  std::int64_t time = 0;   // ms since the run started (virtual time in a simulated world)
  std::string step;        // the step it happened in, or empty
  std::string phase;       // the phase it happened in, or empty
  EventFields fields;

  // {"event": name, "time": time, "step":, "phase":, ...fields} as one object (for tests and
  // tools that read events as data; sinks that write text use to_json_line).
  nlohmann::json to_json() const;
  // The same as one line of text, without building the object first (the JSON-lines hot path).
  std::string to_json_line() const;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const Event& event) = 0;
};

// Fans events out to sinks, stamping each with the time and the current step and phase.
class EventBus {
 public:
  explicit EventBus(std::function<std::int64_t()> now) : now_(std::move(now)) {}

  void add_sink(EventSink* sink) { sinks_.push_back(sink); }

  // A value no event may show (a secret parameter): every occurrence in any text becomes ***.
  void add_secret(std::string secret) {
    if (!secret.empty()) secrets_.push_back(std::move(secret));
  }

  // Where the run is; events emitted with `here` carry it.
  void set_position(std::string step, std::string phase) {
    step_ = std::move(step);
    phase_ = std::move(phase);
  }
  const std::string& step() const { return step_; }
  const std::string& phase() const { return phase_; }

  void emit(const std::string& name, EventFields fields = EventFields::object());
  // Like emit, with "step" and "phase" of the current position put first.
  void emit_here(const std::string& name, EventFields fields = EventFields::object());

  std::int64_t now() const { return now_(); }

  // While muted, events go nowhere: what a resume reads before its run_started (re-listing a
  // refit.each's items to find an interrupted step) is not part of any session's record.
  void set_muted(bool muted) { muted_ = muted; }

  // `text` with every secret replaced by ***, for what a run reports outside its events.
  std::string redacted(std::string text) const;

 private:
  std::function<std::int64_t()> now_;
  std::vector<EventSink*> sinks_;
  std::vector<std::string> secrets_;
  bool muted_ = false;

  void redact(Event& event) const;
  std::string step_;
  std::string phase_;
};

// Keeps every event: for tests and for summaries computed after the run.
class EventRecorder final : public EventSink {
 public:
  void on_event(const Event& event) override { events.push_back(event); }
  std::vector<Event> events;
};

}  // namespace refit::run
