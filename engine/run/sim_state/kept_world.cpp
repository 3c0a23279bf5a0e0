#include "run/sim_state/kept_world.hpp"

#include <fmt/format.h>

#include "run/sim_state/header.hpp"
#include "run/sim_state/replay.hpp"
#include "run/sim_state/state_error.hpp"
#include "run/sim_state/world_digest.hpp"

namespace refit::run::simstate {

std::vector<std::string> world_arguments(const KeptWorldOptions& options) {
  std::vector<std::string> args = {"--sim", options.fixture};
  if (!options.path.empty()) args.insert(args.end(), {"--sim-state", options.path});
  if (options.scenario) args.insert(args.end(), {"--scenario", *options.scenario});
  if (options.seed != 1) args.insert(args.end(), {"--seed", std::to_string(options.seed)});
  return args;
}

KeptWorld::KeptWorld(KeptWorldOptions options, sim::SimRuntime& runtime)
    : options_(std::move(options)), runtime_(runtime) {
  const std::string& file = options_.path;
  std::optional<StateContents> contents;
  if (options_.record) {
    writer_ = std::make_unique<StateWriter>(file);  // locked from here on: no other run appends meanwhile
    contents = writer_->read();
  } else {
    contents = read_state_file(file);
  }

  if (contents && !contents->lines.empty()) {
    restore(*contents);
  } else {
    if (contents && contents->torn) {
      warnings_.push_back(fmt::format("--sim-state {}: the file holds no complete header (a run was killed as it "
                                      "created it): starting over from the fixture", file));
    } else if (!options_.record) {
      warnings_.push_back(fmt::format("--sim-state {}: no such file yet: the world is the fixture's (refit apply "
                                      "creates the file and keeps the world in it)", file));
    }
    if (options_.record) {
      Header header;
      header.refit_version = refit_version();
      header.origin = origin_of(options_.fixture, options_.scenario, options_.seed);
      header.world_sha256 = world_sha256(runtime_);
      writer_->start(header_line(header));
    }
  }

  if (!options_.record) return;
  recorder_ = std::make_unique<Recorder>(*writer_, SecretMarkers(options_.secrets), 1 + replayed_);
  timeline_ = std::make_unique<RecordingTimeline>(runtime_, *recorder_);
  executor_ = std::make_unique<RecordingExecutor>(runtime_, *recorder_);
  for (const auto& c : runtime_.world().clusters()) {
    clusters_[c.get()] = std::make_unique<RecordingCluster>(*c, *recorder_);
  }
}

void KeptWorld::restore(const StateContents& contents) {
  const std::string& file = options_.path;
  Header header = parse_header(contents.lines.front().text, file);
  check_origin(header, origin_of(options_.fixture, options_.scenario, options_.seed), file);
  check_world(header, world_sha256(runtime_), file);
  std::vector<StateLine> inputs(contents.lines.begin() + 1, contents.lines.end());
  replay_inputs(file, inputs, runtime_, SecretMarkers(options_.secrets), header.refit_version, options_.takes_secrets);
  replayed_ = inputs.size();
  if (contents.torn) {
    warnings_.push_back(fmt::format("{}:{}: the last line was cut short (a run was killed while writing it): dropped; "
                                    "the world is restored without that input", file, *contents.torn));
    // Only once the rest replayed: a file that fails to is left as it was.
    if (options_.record) writer_->cut_to(contents.complete_size);  // the next line must start on a line of its own
  }
}

cluster::Cluster* KeptWorld::cluster(sim::SimCluster* world_cluster) {
  auto it = clusters_.find(world_cluster);
  return it == clusters_.end() ? static_cast<cluster::Cluster*>(world_cluster) : it->second.get();
}

Timeline& KeptWorld::timeline() { return timeline_ ? static_cast<Timeline&>(*timeline_) : runtime_; }

exec::Executor& KeptWorld::executor() {
  return executor_ ? static_cast<exec::Executor&>(*executor_) : runtime_;
}

void KeptWorld::set_observer(Recorder::Observer observer) {
  if (recorder_) recorder_->set_observer(std::move(observer));
}

}  // namespace refit::run::simstate
