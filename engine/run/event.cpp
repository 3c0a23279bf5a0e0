#include "run/event.hpp"

namespace refit::run {

EventFields Event::to_json() const {
  EventFields out = EventFields::object();
  out["event"] = name;
  out["time"] = time;
  for (const auto& [k, v] : fields.items()) out[k] = v;
  return out;
}

void EventBus::emit(const std::string& name, EventFields fields) {
  Event event{name, now_(), std::move(fields)};
  for (EventSink* sink : sinks_) sink->on_event(event);
}

void EventBus::emit_here(const std::string& name, EventFields fields) {
  EventFields out = EventFields::object();
  if (!step_.empty()) out["step"] = step_;
  if (!phase_.empty()) out["phase"] = phase_;
  for (auto& [k, v] : fields.items()) out[k] = std::move(v);
  emit(name, std::move(out));
}

}  // namespace refit::run
