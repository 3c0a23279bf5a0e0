// The run journal (docs/durable-runs.md): where runs are kept, how they are named, and the sink that
// writes every event of a run to its journal, one JSON object per line, synced to disk before the
// run goes on, so that a run killed at any point leaves a true account of what it did.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "run/event.hpp"

namespace refit::run::journal {

// A journal that cannot be found, read or written: the message names the file and what to do.
struct JournalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The state directory: `given` (--state-dir), else $XDG_STATE_HOME/refit, else $HOME/.local/state/refit.
std::string state_dir(const std::optional<std::string>& given);
// DIR/runs, where the journals are.
std::string runs_dir(const std::string& state_dir);
std::string journal_path(const std::string& state_dir, const std::string& run_id);

// A new run id: the UTC time and 6 random hex digits, "20261121-101502-3fa9c1" (ids sort by time).
std::string new_run_id();
// The ids of the journals in DIR/runs, sorted (oldest first); none when the directory does not exist.
std::vector<std::string> run_ids(const std::string& state_dir);
// The id of the run whose id starts with `prefix` (unique). Throws JournalError when none or several do.
std::string find_run(const std::string& state_dir, const std::string& prefix);

// Now as UTC RFC 3339 with milliseconds: "2026-11-21T10:15:02.123Z".
std::string wall_time_now();
// The SHA-256 of `bytes`, lowercase hex.
std::string sha256_hex(std::string_view bytes);

// Test hooks (docs/testing.md): after the journal's k-th line of this process is written, raise
// SIGKILL (kill_after) or an interrupt (interrupt_after: SIGINT through the real handler, or, with
// raise_signal false, the handler's own request, for in-process tests).
struct TestHooks {
  std::optional<std::int64_t> kill_after;
  std::vector<std::int64_t> interrupt_after;
  bool raise_signal = true;
};
// REFIT_TEST_KILL_AFTER_EVENT=k and REFIT_TEST_INTERRUPT_AFTER_EVENT=k[,k2]. Throws JournalError
// on a value that is not a list of positive integers.
TestHooks test_hooks_from_environment();

class JournalSink final : public EventSink {
 public:
  // Opens `path` to append (the directories above it made 0700, the file 0600). `session_fields`
  // are added to this session's run_started record (run_id, host, pid, playbook_sha256, resume):
  // what the journal needs that the other reports do not. Throws JournalError.
  JournalSink(const std::string& path, EventFields session_fields, TestHooks hooks = {});
  ~JournalSink() override;
  JournalSink(const JournalSink&) = delete;
  JournalSink& operator=(const JournalSink&) = delete;

  // Writes the event with "wall" (and, for run_started, the session fields), then syncs it. A write
  // that fails stops the run before its next call (interrupt.hpp): a run must not go on unjournaled.
  void on_event(const Event& event) override;

  const std::string& path() const { return path_; }
  // Why the journal stopped being written, when it did.
  const std::optional<std::string>& failure() const { return failure_; }

 private:
  void write_line(const std::string& line);

  std::string path_;
  int fd_ = -1;
  EventFields session_fields_;
  TestHooks hooks_;
  std::int64_t lines_ = 0;
  std::optional<std::string> failure_;
};

}  // namespace refit::run::journal
