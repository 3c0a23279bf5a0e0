// The journal reader of refit unlock RUN. Runs are journaled under the state directory by the run
// journal (docs/durable-runs.md); until a refit keeps journals, RUN cannot be looked up, and the
// PLAYBOOK form (which names the lease's playbook and clusters itself) is the way to unlock.
#include "cli/unlock_run.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace refit::cli {

UnlockTarget unlock_target_of_run(const std::string& run, const std::string&) {
  throw std::runtime_error(fmt::format(
      "refit unlock {}: this refit keeps no run journal to find that run's playbook and clusters in: name them "
      "instead, as the message that refused the run did: refit unlock PLAYBOOK --context CTX (or --inventory FILE, "
      "or --sim FIXTURE)", run));
}

}  // namespace refit::cli
