// One run from the command line's point of view: load the playbook and its parameters, build the
// world, run, and report. `refit plan`, `refit apply` and `refit test`'s t.plan all go through here.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lua/vm.hpp"
#include "run/event.hpp"
#include "run/journal.hpp"
#include "run/journal_reader.hpp"
#include "run/runner.hpp"

namespace refit::run {

struct SessionOptions {
  std::string playbook;                    // bundled name or path
  std::string mode = "plan";               // plan | apply | resume | rollback
  std::string fixture;                     // --sim FIXTURE
  std::string sim_state;                   // --sim-state FILE: the simulated world is kept there
  // Real clusters (apply without --sim): --context / --inventory, and --kubeconfig.
  std::string context;
  std::optional<std::string> inventory;
  std::string kubeconfig;
  std::optional<std::string> scenario;     // --scenario FILE
  std::uint64_t seed = 1;
  std::vector<std::string> sets;           // --set k=v
  std::optional<std::string> values_file;  // -f values.yaml
  // Parameter values as data, under -f and --set: a resumed run's journaled values.
  nlohmann::json values = nlohmann::json::object();
  lua::VmOptions vm;
  bool capture_world = false;              // keep dumps of the world before and after (tests)
  std::string save_world;                  // --save-world FILE: the simulated world as the run left it (JSON)
  bool verbose = false;                    // stream real commands' output
  // Called with the targets ("name: context (server)") before a real run changes anything; false
  // stops the run (nothing changed). Unset: no question is asked.
  std::function<bool(const std::vector<std::string>& targets)> confirm;

  // Durable runs (docs/durable-runs.md). With a state directory, the run is journaled there.
  std::optional<std::string> state_dir;
  std::string run_id;                              // resume, rollback: the run to continue
  const journal::RunHistory* history = nullptr;    // resume, rollback: what its journal says
  bool rerun_interrupted = false;                  // resume --rerun-interrupted
  bool handle_signals = false;                     // SIGINT and SIGTERM stop the run gracefully
  journal::TestHooks journal_hooks;                // tests: kill or interrupt after journal line k
};

struct SessionResult {
  RunOutcome outcome;
  std::string run_id;         // a journaled run's id
  std::string journal;        // and its journal
  nlohmann::json world_before;
  nlohmann::json world_after;
};

// A problem before the run starts (playbook, parameters, fixture): exit code 1.
struct SetupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs the session; events go to `sinks`. Throws SetupError.
SessionResult run_session(const SessionOptions& options, const std::vector<EventSink*>& sinks);

// Preloads the native stdlib modules into a fresh VM (refit.json, refit.yaml, refit.resource).
void prepare_vm(lua::Vm& vm);

}  // namespace refit::run
