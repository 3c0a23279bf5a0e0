#include "run/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace refit::run::interrupt {

namespace {

// Everything the handler touches is a lock-free atomic: it runs between any two instructions.
std::atomic<bool> g_requested{false};
std::atomic<int> g_signo{0};
std::atomic<const char*> g_why{nullptr};
std::atomic<pid_t> g_command_group{0};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free &&
              std::atomic<pid_t>::is_always_lock_free && std::atomic<const char*>::is_always_lock_free);

void say(const char* text, std::size_t size) {
  // write(2) is async-signal-safe; a short write of a message is not worth a retry.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, text, size);
}

void on_signal(int signo) {
  if (g_requested.load()) {
    // The second signal: the operator wants out now. The command's group first, so that nothing
    // it started goes on changing the world after refit has gone.
    pid_t group = g_command_group.load();
    if (group > 0) ::kill(-group, SIGTERM);
    static const char text[] = "\nrefit: interrupted again: aborting at once (exit 130)\n";
    say(text, sizeof text - 1);
    ::_exit(130);
  }
  g_signo.store(signo);
  g_requested.store(true);
  static const char text[] =
      "\nrefit: interrupted: stopping after the call in progress (interrupt again to abort at once)\n";
  say(text, sizeof text - 1);
}

}  // namespace

void install() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // Interrupted system calls resume: the call in progress is to finish, not to fail.
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void uninstall() {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool requested() { return g_requested.load(); }

void request(int signo, const char* why) {
  g_why.store(why);
  g_signo.store(signo);
  g_requested.store(true);
}

void reset() {
  g_requested.store(false);
  g_signo.store(0);
  g_why.store(nullptr);
}

std::string cause() {
  switch (g_signo.load()) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: break;
  }
  const char* why = g_why.load();
  return why != nullptr ? why : "a request to stop";
}

RunningCommand::RunningCommand(pid_t process_group) {
  // One slot: commands run one at a time on the run's thread (a credential plugin run meanwhile by
  // another thread leaves the slot to the run's command).
  pid_t none = 0;
  g_command_group.compare_exchange_strong(none, process_group);
  group_ = process_group;
}

RunningCommand::~RunningCommand() {
  pid_t mine = group_;
  g_command_group.compare_exchange_strong(mine, 0);
}

}  // namespace refit::run::interrupt
