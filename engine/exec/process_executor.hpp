// Running commands for real (`refit apply`, and the reads of `refit plan` against live clusters): the
// argv is spawned directly (never through a shell, so no argument is ever re-parsed), in its own
// process group so that a timeout ends everything it started, with stdin from /dev/null and stdout
// and stderr captured separately, each up to a cap.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "exec/executor.hpp"

namespace refit::exec {

enum class OutputStream { Out, Err };

// Called with each line a process writes (without its newline; a last line without one when the
// stream ends), as it comes: for the console when verbose. Called from the thread that runs the
// process. A line longer than 64 KiB is passed in pieces.
using LineCallback = std::function<void(OutputStream stream, std::string_view line)>;

struct ProcessSpec {
  std::vector<std::string> argv;               // argv[0] is looked up on the PATH (of `env`, when it sets one)
  std::map<std::string, std::string> env;      // set in the child, over our own environment
  std::string working_directory;               // empty: ours
  std::optional<std::int64_t> timeout_ms;      // then SIGTERM to the process group, SIGKILL after `kill_grace_ms`
  std::int64_t kill_grace_ms = 2000;
  std::size_t output_cap = 4 * 1024 * 1024;    // bytes kept of stdout, and of stderr
  LineCallback on_line;                        // optional
};

struct ProcessResult {
  int code = 0;              // the exit status; 128 + N for a death by signal N; 127 not found, 126 not runnable
  std::string out;           // the first `output_cap` bytes
  std::string err;
  std::size_t out_dropped = 0;  // bytes written beyond the cap, not kept
  std::size_t err_dropped = 0;
  bool timed_out = false;
  bool sigkilled = false;        // after a timeout, the group outlived SIGTERM's grace period: SIGKILL was sent
  std::int64_t duration_ms = 0;  // steady clock, from the spawn to the end of the process (and its output)
};

// A command that cannot be started for a reason that is not the command's own (no pipes, a working
// directory that does not exist, an empty argv): the message says which.
struct SpawnError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs one process to its end. A program that is not found (or not executable) is not an exception:
// it is code 127 (126) with a message in `err` naming the program and the PATH searched, as a shell
// reports it. Thread-safe: each call has its own pipes.
ProcessResult run_process(const ProcessSpec& spec);

// A mutating command refused by an executor that runs only read-only commands (`refit plan`).
struct MutatingCommandRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ProcessExecutorOptions {
  std::map<std::string, std::string> env;  // for every command
  std::string working_directory;
  std::size_t output_cap = 4 * 1024 * 1024;
  std::int64_t kill_grace_ms = 2000;
  LineCallback on_line;  // set it when verbose
};

// The Executor of the real world. `allow_mutating` is false for `plan`: a request marked mutates is
// then refused (MutatingCommandRefused) before anything runs. A truncated output ends with a line
// saying how much was dropped; a timeout adds a line to `err`.
class ProcessExecutor final : public Executor {
 public:
  explicit ProcessExecutor(bool allow_mutating, ProcessExecutorOptions options = {});
  Result run(const Request& request) override;

 private:
  bool allow_mutating_;
  ProcessExecutorOptions options_;
};

}  // namespace refit::exec
