// The virtual clock of a kept simulated world as the run sees it: every advance (a wait's poll, a
// sleep, a command's duration) lets the world's scheduled events run, so each is kept in FILE.
#pragma once
#include "run/sim_state/recorder.hpp"
#include "run/timeline.hpp"

namespace refit::run::simstate {

class RecordingTimeline final : public Timeline {
 public:
  RecordingTimeline(Timeline& inner, Recorder& recorder) : inner_(inner), recorder_(recorder) {}

  std::int64_t now() const override { return inner_.now(); }
  void advance_to(std::int64_t t) override;
  void wait_began() override;
  void wait_ended() override;

 private:
  Timeline& inner_;
  Recorder& recorder_;
};

}  // namespace refit::run::simstate
