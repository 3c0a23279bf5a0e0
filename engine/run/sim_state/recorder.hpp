// Where the recording decorators keep the inputs they see: each becomes a line of FILE, synced before
// the call that made it returns. When a line cannot be written the world is one input ahead of FILE:
// from then on every input is refused before it changes anything, so FILE stays a prefix that
// replays (the run fails, and says so).
#pragma once
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "run/sim_state/secret_markers.hpp"
#include "run/sim_state/state_file.hpp"

namespace refit::run::simstate {

class Recorder {
 public:
  // `lines`: how many lines FILE holds already (its header and the inputs replayed).
  Recorder(StateWriter& writer, SecretMarkers markers, std::size_t lines);

  // Throws StateError when an earlier input could not be kept: call before changing the world.
  void check_usable() const;
  // Writes the record (secret values hidden) as FILE's next line. Throws StateError.
  void keep(nlohmann::json record);

  // Called after each line is kept, with its number and text (tests compare worlds at those points;
  // REFIT_TEST_STOP_AFTER_SIM_INPUT stops the process there).
  using Observer = std::function<void(std::size_t line, const std::string& text)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  std::size_t lines() const { return lines_; }

 private:
  StateWriter& writer_;
  SecretMarkers markers_;
  std::size_t lines_;
  std::optional<std::string> broken_;
  Observer observer_;
};

}  // namespace refit::run::simstate
