// A simulated world kept in a file across runs (--sim FIXTURE --sim-state FILE). Once the world is
// built from its fixture, FILE (when there is one) is checked against the fixture, scenario and seed
// and its inputs are replayed, which puts the world back as the last run left it. A recording run
// (apply) then keeps every further input in FILE, through the decorators it hands out in place of
// the world's clusters, clock and tools; a run that only reads (plan) gets the world's own.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/sim/sim_runtime.hpp"
#include "run/sim_state/recorder.hpp"
#include "run/sim_state/recording_cluster.hpp"
#include "run/sim_state/recording_executor.hpp"
#include "run/sim_state/recording_timeline.hpp"
#include "run/sim_state/state_file.hpp"

namespace refit::run::simstate {

struct KeptWorldOptions {
  std::string path;                             // FILE
  bool record = false;                          // keep the run's inputs (apply); else FILE is only read
  std::string fixture;                          // what the world was built from
  std::optional<std::string> scenario;
  std::uint64_t seed = 1;
  std::map<std::string, std::string> secrets;   // the run's secret parameters: name -> value
  // false: a reader that is never given secret parameters (refit sim dump, which would print them); a
  // replay that meets one is refused, and says so instead of asking for --set.
  bool takes_secrets = true;
};

// The arguments that build this world again on refit's command line: --sim FIXTURE, and --sim-state
// FILE, --scenario F and --seed N when given (not the default 1), for messages that name a command.
std::vector<std::string> world_arguments(const KeptWorldOptions& options);

class KeptWorld {
 public:
  // Restores the world (`runtime`, just built from the fixture) from FILE. Throws StateError.
  KeptWorld(KeptWorldOptions options, sim::SimRuntime& runtime);

  // What the run's report should warn of: a torn line dropped, a file not there yet.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // How many inputs were replayed (0 for a world new from the fixture).
  std::size_t replayed() const { return replayed_; }

  // What the run stands on: recorders around the world's parts, or (not recording) the parts themselves.
  cluster::Cluster* cluster(sim::SimCluster* world_cluster);
  Timeline& timeline();
  exec::Executor& executor();

  // Called after each line a recording run keeps (tests; a no-op when not recording).
  void set_observer(Recorder::Observer observer);

 private:
  void restore(const StateContents& contents);

  KeptWorldOptions options_;
  sim::SimRuntime& runtime_;
  std::vector<std::string> warnings_;
  std::size_t replayed_ = 0;
  std::unique_ptr<StateWriter> writer_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<RecordingTimeline> timeline_;
  std::unique_ptr<RecordingExecutor> executor_;
  std::map<sim::SimCluster*, std::unique_ptr<RecordingCluster>> clusters_;
};

}  // namespace refit::run::simstate
