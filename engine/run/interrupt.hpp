// Interrupts of a durable run (docs/durable-runs.md, "Interrupts"). The first SIGINT or SIGTERM only
// raises a flag: the call in progress (an API request, a command, a wait's poll) finishes, and the
// run stops before its next call, journaled and resumable. A second one aborts at once: the running
// command's process group gets SIGTERM and refit exits 130.
#pragma once
#include <sys/types.h>

#include <string>

namespace refit::run::interrupt {

// Installs the handlers of SIGINT and SIGTERM (a run that journals); uninstall restores the defaults.
void install();
void uninstall();

// Whether a stop was asked for.
bool requested();

// What a first signal does, callable directly: by tests, and when the journal cannot be written
// (`why`, a string that lives as long as the program, says so; signo is then 0).
void request(int signo, const char* why = nullptr);
// Clears the flag (the start of a run in a process that runs several, such as `refit test`).
void reset();

// What asked for the stop: "SIGINT", "SIGTERM", or the reason given to request().
std::string cause();

// The process group of the command being run, which a second signal ends; 0 when none runs.
// Set by the process runner around each command.
class RunningCommand {
 public:
  explicit RunningCommand(pid_t process_group);
  ~RunningCommand();
  RunningCommand(const RunningCommand&) = delete;
  RunningCommand& operator=(const RunningCommand&) = delete;

 private:
  pid_t group_;
};

}  // namespace refit::run::interrupt
