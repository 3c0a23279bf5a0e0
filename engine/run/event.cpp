#include "run/event.hpp"

namespace refit::run {

nlohmann::ordered_json Event::to_json() const {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["event"] = name;
  out["time"] = time;
  if (!step.empty()) out["step"] = step;
  if (!phase.empty()) out["phase"] = phase;
  for (const auto& [k, v] : fields.items()) out[k] = v;
  return out;
}

std::string Event::to_json_line() const {
  using Json = nlohmann::json;
  constexpr auto replace = Json::error_handler_t::replace;  // invalid UTF-8 in tool output must not abort a run
  std::string out = "{\"event\":" + Json(name).dump(-1, ' ', false, replace) + ",\"time\":" + std::to_string(time);
  if (!step.empty()) out += ",\"step\":" + Json(step).dump(-1, ' ', false, replace);
  if (!phase.empty()) out += ",\"phase\":" + Json(phase).dump(-1, ' ', false, replace);
  if (!fields.empty()) {
    std::string rest = fields.dump(-1, ' ', false, EventFields::error_handler_t::replace);
    out += ',';
    out.append(rest, 1, std::string::npos);  // the fields object without its opening brace
  } else {
    out += '}';
  }
  return out;
}

void EventBus::emit(const std::string& name, EventFields fields) {
  Event event{name, now_(), {}, {}, std::move(fields)};
  for (EventSink* sink : sinks_) sink->on_event(event);
}

void EventBus::emit_here(const std::string& name, EventFields fields) {
  Event event{name, now_(), step_, phase_, std::move(fields)};
  for (EventSink* sink : sinks_) sink->on_event(event);
}

}  // namespace refit::run
