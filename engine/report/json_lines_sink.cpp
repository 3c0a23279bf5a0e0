#include "report/console_sink.hpp"

namespace refit::report {

void JsonLinesSink::on_event(const run::Event& event) {
  // One object per line. A consumer following a long run sees each line within 50 ms; a simulated
  // plan of 10,000 steps does not pay a write per event.
  out_ << event.to_json_line() << '\n';
  auto now = std::chrono::steady_clock::now();
  if (event.name == "run_finished" || now - last_flush_ >= std::chrono::milliseconds(50)) {
    out_.flush();
    last_flush_ = now;
  }
}

}  // namespace refit::report
