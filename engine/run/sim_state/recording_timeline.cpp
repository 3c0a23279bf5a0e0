#include "run/sim_state/recording_timeline.hpp"

#include "run/sim_state/records.hpp"

namespace refit::run::simstate {

void RecordingTimeline::advance_to(std::int64_t t) {
  recorder_.check_usable();
  nlohmann::json record = {{"advance", t}};
  const bool sync = !recorder_.polling();
  try {
    inner_.advance_to(t);
  } catch (const std::exception& e) {
    // A model failed while time passed: the clock moved anyway, and a replay fails the same way.
    record["error"] = records::error_json(e);
    recorder_.keep(std::move(record), sync);
    throw;
  }
  recorder_.keep(std::move(record), sync);
}

void RecordingTimeline::wait_began() {
  recorder_.wait_began();
  inner_.wait_began();
}

// The wait's polls are synced before the run reports its end (wait_finished comes after this), so
// the run's journal never records more than FILE holds.
void RecordingTimeline::wait_ended() {
  inner_.wait_ended();
  recorder_.wait_ended();
}

}  // namespace refit::run::simstate
