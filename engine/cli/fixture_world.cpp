#include "cli/fixture_world.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "run/session.hpp"
#include "run/sim_state/state_error.hpp"

namespace refit::cli {

FixtureWorld::FixtureWorld(const GlobalOptions& global, std::uint64_t seed) : vm_(vm_options(global)), world_(seed) {
  run::prepare_vm(vm_);  // before the runtime, which loads the models into the prepared VM
  runtime_ = std::make_unique<sim::SimRuntime>(vm_, world_);
}

void FixtureWorld::load(const std::string& fixture, const std::optional<std::string>& scenario) {
  try {
    runtime_->load(fixture, scenario);
  } catch (const sim::FixtureError& e) {
    throw run::SetupError(e.what());
  }
}

void FixtureWorld::require_kept_file(const std::string& file, const std::string& missing) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    throw run::SetupError(fmt::format("--sim-state {}: no such file: {}", file, missing));
  }
}

std::unique_ptr<run::simstate::KeptWorld> FixtureWorld::restore(const run::simstate::KeptWorldOptions& kept) {
  std::unique_ptr<run::simstate::KeptWorld> restored;
  try {
    restored = std::make_unique<run::simstate::KeptWorld>(kept, *runtime_);
  } catch (const run::simstate::StateError& e) {
    throw run::SetupError(e.what());
  }
  for (const auto& warning : restored->warnings()) print_error("warning: " + warning);
  return restored;
}

}  // namespace refit::cli
