// Where the recording decorators keep the inputs they see: each becomes a line of FILE, written
// before the call that made it returns (a kill at any moment leaves FILE a prefix that replays) and
// synced to the disk then too, except a wait's polls (its clock advances and read-only commands),
// which the wait's end syncs: a wait only reads, and a run that stops in the middle of one waits
// again when it goes on, so what a crash of the machine could lose of a wait is virtual time the
// next run lets pass anyway. A fleet's upgrade is mostly polls (docs/performance.md).
//
// When a line cannot be written the world is one input ahead of FILE: from then on every input is
// refused before it changes anything, so FILE stays a prefix that replays (the run fails, and says
// so).
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
  // Writes the record (secret values hidden) as FILE's next line, synced to the disk unless `sync` is
  // false (then by the next line that is, or by sync()). Throws StateError.
  void keep(nlohmann::json record, bool sync = true);
  // Syncs the lines kept without syncing. Throws StateError.
  void sync();

  // A ctx:wait begins and ends (they nest). A wait's polls (its clock advances and read-only
  // commands) need no sync of their own: the wait's end syncs them (docs/sim-state.md).
  void wait_began() { ++waits_; }
  void wait_ended();
  bool polling() const { return waits_ > 0; }

  // Called after each line is kept, with its number and text (tests compare worlds at those points;
  // REFIT_TEST_STOP_AT_SIM_STATE_LINE stops the process there).
  using Observer = std::function<void(std::size_t line, const std::string& text)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

 private:
  StateWriter& writer_;
  SecretMarkers markers_;
  std::size_t lines_;
  std::optional<std::string> broken_;
  int waits_ = 0;
  Observer observer_;
};

}  // namespace refit::run::simstate
