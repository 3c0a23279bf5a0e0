// What goes wrong with a kept simulated world (--sim-state FILE): a file that cannot be read or
// written, one recorded from another fixture, a damaged line, a replay that no longer comes out as
// recorded. The message names FILE (and its line), says what differs and how to go on.
#pragma once
#include <stdexcept>

namespace refit::run::simstate {

struct StateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace refit::run::simstate
