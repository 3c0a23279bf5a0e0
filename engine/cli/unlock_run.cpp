// The journal reader of refit unlock RUN: the run's playbook and world, as the first record of its
// last session says (run_started and its `resume`, docs/durable-runs.md).
#include "cli/unlock_run.hpp"

#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data/json_fields.hpp"
#include "run/journal.hpp"
#include "run/journal_reader.hpp"

namespace refit::cli {

using data::string_member;

namespace {

using Json = nlohmann::json;

}  // namespace

UnlockTarget unlock_target_of_run(const std::string& run, const std::optional<std::string>& state_dir) {
  namespace journal = run::journal;
  const std::string dir = journal::state_dir(state_dir);
  const std::string id = journal::find_run(dir, run);
  const journal::RunHistory history = journal::read_history(journal::journal_path(dir, id), id);
  const journal::Session* session = history.last_session();
  if (session == nullptr) {
    throw std::runtime_error(fmt::format("run {} stopped before its journal ({}) recorded anything: it took no lease",
                                         id, history.path));
  }
  const Json& started = session->started;
  auto resume = started.find("resume");
  if (resume == started.end() || !resume->is_object() || !resume->contains("world")) {
    throw std::runtime_error(fmt::format(
        "the journal of run {} ({}) does not say where the run ran: name the clusters instead, refit unlock {} "
        "--context CTX (or --inventory FILE, or --sim FIXTURE)", id, history.path, string_member(started, "playbook")));
  }
  UnlockTarget target;
  target.run_id = id;
  target.playbook = string_member(started, "playbook");
  target.world = journal::journaled_world_of((*resume)["world"]);
  return target;
}

}  // namespace refit::cli
