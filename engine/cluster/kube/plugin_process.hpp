// Runs an exec credential plugin: its argv without a shell, stdin from /dev/null, stdout and stderr
// captured (stdout holds a credential, so it only ever goes to the parser), a timeout that kills the
// plugin's process group. Small on purpose: kubeconfig credentials must not depend on the general
// command runner, whose output goes to consoles and reports.
#pragma once
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace refit::kube {

struct PluginProcessRequest {
  std::vector<std::string> argv;                         // argv[0] is looked up on PATH unless it has a '/'
  std::vector<std::pair<std::string, std::string>> env;  // set on top of this process's environment
  std::chrono::milliseconds timeout{60'000};
  std::size_t max_stdout = 4 << 20;   // more than this is an error (an ExecCredential is a few KiB)
  std::size_t max_stderr = 16 << 10;  // only the tail is kept
};

struct PluginProcessResult {
  int spawn_error = 0;     // errno when the plugin could not be started (ENOENT: not found); nothing ran
  bool timed_out = false;  // killed when the timeout passed
  bool stdout_too_large = false;
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it
  std::string out;
  std::string err;  // the last max_stderr bytes
};

PluginProcessResult run_plugin_process(const PluginProcessRequest& request);

}  // namespace refit::kube
