#include "run/sim_state/recording_timeline.hpp"

#include "run/sim_state/records.hpp"

namespace refit::run::simstate {

void RecordingTimeline::advance_to(std::int64_t t) {
  recorder_.check_usable();
  nlohmann::json record = {{"advance", t}};
  try {
    inner_.advance_to(t);
  } catch (const std::exception& e) {
    // A model failed while time passed: the clock moved anyway, and a replay fails the same way.
    record["error"] = records::error_json(e);
    recorder_.keep(std::move(record));
    throw;
  }
  recorder_.keep(std::move(record));
}

}  // namespace refit::run::simstate
