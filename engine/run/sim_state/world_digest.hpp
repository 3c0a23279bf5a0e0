// The sha256 of a simulated world: every cluster's name, version and objects, and the cloud state,
// streamed into the digest one object at a time (a fleet's world is hundreds of megabytes as one
// JSON text). Two worlds with the same digest dump alike (SimRuntime::dump).
#pragma once
#include <string>

#include "cluster/sim/sim_runtime.hpp"

namespace refit::run::simstate {

std::string world_sha256(sim::SimRuntime& runtime);

}  // namespace refit::run::simstate
