// Puts a kept simulated world back: the inputs FILE holds, replayed in order on the world its
// fixture builds, each compared with the outcome it had when recorded. The models' scheduled events
// (closures) cannot be written down; replaying what caused them schedules them again.
#pragma once
#include <string>
#include <vector>

#include "cluster/sim/sim_runtime.hpp"
#include "run/sim_state/secret_markers.hpp"
#include "run/sim_state/state_file.hpp"

namespace refit::run::simstate {

// Replays `inputs` (FILE's lines after the header). Throws StateError naming FILE:line: a line that is
// not an input, a secret parameter the run was not given, or an outcome other than the recorded one.
// `takes_secrets` false: the reader is never given secret parameters (refit sim dump), which the
// refusal of a secret says rather than asking for --set.
void replay_inputs(const std::string& file, const std::vector<StateLine>& inputs, sim::SimRuntime& runtime,
                   const SecretMarkers& markers, const std::string& recorded_by, bool takes_secrets = true);

}  // namespace refit::run::simstate
