// Reading a run journal back: what `refit runs` lists of a run, and everything `refit resume` and
// `refit rollback` need to continue it (which steps finished, which one was interrupted, what each
// refit.each expanded into, ctx.state as the run left it).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "run/journal.hpp"

namespace refit::run::journal {

// What one step went through, over every session of the run.
struct StepRecord {
  std::string name;
  std::int64_t index = 0;      // its number in the report (step_started's index)
  bool started = false;
  bool finished = false;       // a step_finished or step_skipped came after its last start
  std::string status;          // "succeeded", "failed" or "skipped" once finished
  std::string skip_reason;     // "when", "done", "completed"
  bool run_started = false;    // its run phase began (phase_started run), in any session
  bool completed = false;      // it succeeded, or a resume found it done after an interruption
  bool changed = false;        // a change of its run or verify was journaled
  bool rolled_back = false;    // its rollback hook succeeded
  bool cleaned_up = false;     // its cleanup ran (succeeded or failed)
};

// What a refit.each expanded into.
struct Expansion {
  std::string each;
  nlohmann::json items;        // the items as data; null when they were not (a function in one)
  std::vector<std::string> steps;
};

// One process's part of the run: apply, then perhaps resume and rollback, each appending.
struct Session {
  std::string mode;                        // "apply", "resume", "rollback"
  nlohmann::json started;                  // its run_started record
  std::optional<nlohmann::json> finished;  // its run_finished record, when it got that far
  bool rolling_back = false;               // it began a rollback
  bool locked_out = false;                 // another run's lease kept it from running: it did nothing
  std::string last_wall;                   // the wall time of its last record
};

struct RunHistory {
  std::string id;
  std::string path;
  std::vector<Session> sessions;
  std::vector<StepRecord> steps;           // in the order they first started
  std::vector<Expansion> expansions;
  nlohmann::json state = nlohmann::json::object();  // ctx.state as the run left it
  bool preflight_passed = false;
  bool changed = false;                    // something was changed, in any session
  bool torn_tail = false;                  // the last line was cut short by a crash, and dropped
  std::string last_step;                   // the step the run was last in

  const StepRecord* step(const std::string& name) const;
  const Expansion* expansion(const std::string& each) const;
  // The step that started and never finished (the run stopped in it), if any.
  const StepRecord* interrupted_step() const;
  // The last step that started without completing (interrupted or failed), if any.
  const StepRecord* last_incomplete_step() const;

  // The first session's run_started (the playbook, its targets, how to rebuild the run).
  const nlohmann::json& first_started() const;
  // The last session that took part in the run: one that another run's lease kept out (a resume
  // refused while that run held the cluster) is passed over, unless the run has no other.
  const Session* last_session() const;

  // The last session's run_finished status ("succeeded", "failed", "rolled_back",
  // "precondition_failed", "interrupted"); else "running" when its process lives on this host,
  // else "interrupted" (killed).
  std::string status() const;
  // Whether the run stopped while rolling back (a rollback, or an apply's own after a failure).
  bool stopped_rolling_back() const;
};

// Reads a journal. A last line cut short (the process was killed while writing it) is dropped and
// noted (torn_tail); any other line that is not a JSON object is an error naming file:line.
RunHistory read_history(const std::string& path, const std::string& id);
RunHistory parse_history(std::string_view text, const std::string& path, const std::string& id);

// Where a run ran, as its run_started's `resume.world` records it (session.cpp's journaled_world).
struct JournaledWorld {
  std::string fixture;                   // a simulated world (--sim); empty: real clusters
  std::string sim_state;                 // ... kept in this file (--sim-state); empty: not kept
  std::optional<std::string> scenario;   // ... built with this scenario and seed
  std::uint64_t seed = 1;
  std::string kubeconfig;                // or real clusters: the kubeconfig, and
  std::string context;                   // --context, or
  std::optional<std::string> inventory;  // --inventory
};
JournaledWorld journaled_world_of(const nlohmann::json& world);

// Whether `pid` is a live process on this machine, `host` being where it ran.
bool process_alive(const std::string& host, std::int64_t pid);
std::string this_host();

}  // namespace refit::run::journal
