#include "run/event.hpp"

namespace refit::run {

nlohmann::json Event::to_json() const {
  nlohmann::json out = fields.is_object() ? fields : nlohmann::json::object();
  out["event"] = name;
  out["time"] = time;
  if (!step.empty()) out["step"] = step;
  if (!phase.empty()) out["phase"] = phase;
  return out;
}

namespace {

// A JSON string literal for `s` (RFC 8259 escapes); the few fixed fields of every event line are
// written with this instead of a serializer each, which keeps a 10,000-step plan's output cheap.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[(c >> 4) & 0xf];
          out += hex[c & 0xf];
        } else {
          out += c;  // UTF-8 passes through; the fields' serializer replaces invalid sequences
        }
    }
  }
  out += '"';
}

}  // namespace

std::string Event::to_json_line() const {
  std::string out = "{\"event\":";
  append_json_string(out, name);
  out += ",\"time\":" + std::to_string(time);
  if (!step.empty()) {
    out += ",\"step\":";
    append_json_string(out, step);
  }
  if (!phase.empty()) {
    out += ",\"phase\":";
    append_json_string(out, phase);
  }
  if (!fields.empty()) {
    std::string rest = fields.dump(-1, ' ', false, EventFields::error_handler_t::replace);
    out += ',';
    out.append(rest, 1, std::string::npos);  // the fields object without its opening brace
  } else {
    out += '}';
  }
  return out;
}

namespace {

void redact_text(std::string& text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
      text.replace(at, secret.size(), "***");
    }
  }
}

void redact_json(EventFields& value, const std::vector<std::string>& secrets) {
  if (value.is_string()) {
    redact_text(value.get_ref<std::string&>(), secrets);
  } else if (value.is_structured()) {
    for (auto& item : value) redact_json(item, secrets);
  }
}

}  // namespace

std::string EventBus::redacted(std::string text) const {
  redact_text(text, secrets_);
  return text;
}

void EventBus::redact(Event& event) const {
  if (secrets_.empty()) return;
  redact_text(event.step, secrets_);
  redact_json(event.fields, secrets_);
}

void EventBus::emit(const std::string& name, EventFields fields) {
  if (muted_) return;
  Event event{name, now_(), {}, {}, std::move(fields)};
  redact(event);
  for (EventSink* sink : sinks_) sink->on_event(event);
}

void EventBus::emit_here(const std::string& name, EventFields fields) {
  if (muted_) return;
  Event event{name, now_(), step_, phase_, std::move(fields)};
  redact(event);
  for (EventSink* sink : sinks_) sink->on_event(event);
}

}  // namespace refit::run
