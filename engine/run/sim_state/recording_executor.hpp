// The commands of a kept simulated world as the run sees them: every command goes to the tool models
// and is kept in FILE, read-only ones too (a model may draw from the world's random generator, or
// schedule, when it answers).
#pragma once
#include "exec/executor.hpp"
#include "run/sim_state/recorder.hpp"

namespace refit::run::simstate {

class RecordingExecutor final : public exec::Executor {
 public:
  RecordingExecutor(exec::Executor& inner, Recorder& recorder) : inner_(inner), recorder_(recorder) {}

  exec::Result run(const exec::Request& request) override;

 private:
  exec::Executor& inner_;
  Recorder& recorder_;
};

}  // namespace refit::run::simstate
