#include "run/sim_state/recorder.hpp"

#include <fmt/format.h>

#include "run/sim_state/records.hpp"
#include "run/sim_state/state_error.hpp"

namespace refit::run::simstate {

Recorder::Recorder(StateWriter& writer, SecretMarkers markers, std::size_t lines)
    : writer_(writer), markers_(std::move(markers)), lines_(lines) {}

void Recorder::check_usable() const {
  if (broken_) throw StateError(*broken_);
}

void Recorder::keep(nlohmann::json record, bool sync) {
  markers_.hide(record);
  std::string what = records::describe(record);  // after hiding: an error message names no secret either
  std::string text;
  try {
    // A string that is not UTF-8 cannot be written as JSON: refused (strict), rather than kept altered.
    text = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    writer_.append(text, sync);
  } catch (const std::exception& e) {
    broken_ = fmt::format("--sim-state {}: the simulated world has changed further than the file keeps: {} could not "
                          "be kept ({}); the run may change the world no more. The file holds the world as it was "
                          "before that input", writer_.path(), what, e.what());
    throw StateError(*broken_);
  }
  ++lines_;
  if (observer_) observer_(lines_, text);
}

void Recorder::wait_ended() {
  if (--waits_ == 0) sync();
}

void Recorder::sync() {
  try {
    writer_.sync_appended();
  } catch (const std::exception& e) {
    broken_ = fmt::format("--sim-state {}: the simulated world has changed further than the file keeps: its last "
                          "inputs could not be synced ({}); the run may change the world no more", writer_.path(),
                          e.what());
    throw StateError(*broken_);
  }
}

}  // namespace refit::run::simstate
