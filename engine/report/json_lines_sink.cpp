#include "report/console_sink.hpp"

namespace refit::report {

void JsonLinesSink::on_event(const run::Event& event) {
  // One object per line, flushed, so a consumer can follow a long run as it happens.
  out_ << event.to_json().dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
  out_.flush();
}

}  // namespace refit::report
