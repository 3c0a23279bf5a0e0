#include "cli/fixture_world.hpp"

#include "run/session.hpp"

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

}  // namespace refit::cli
