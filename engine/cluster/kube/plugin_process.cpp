// posix_spawnp with pipes, poll and a deadline: the plugin runs in its own process group so that a
// timeout also stops whatever it started (a shell script's children hold the pipes open).
#include "cluster/kube/plugin_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

extern char** environ;

namespace refit::kube {

namespace {

using Clock = std::chrono::steady_clock;

struct Pipe {
  int read = -1;
  int write = -1;
  ~Pipe() {
    if (read >= 0) ::close(read);
    if (write >= 0) ::close(write);
  }
  int open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return errno;
    read = fds[0];
    write = fds[1];
    return 0;
  }
  void close_write() {
    ::close(write);
    write = -1;
  }
};

// Our environment with the request's variables set (replacing ours of the same name).
std::vector<std::string> child_environment(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::set<std::string> replaced;
  for (const auto& [name, value] : extra) replaced.insert(name);
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (replaced.count(entry.substr(0, eq))) continue;
    env.push_back(std::move(entry));
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int milliseconds_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1'000'000));
}

// Starts the plugin; returns 0 or the errno that kept it from starting.
int spawn(const PluginProcessRequest& request, Pipe& out, Pipe& err, pid_t& pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write, 1);
  posix_spawn_file_actions_adddup2(&actions, err.write, 2);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);  // a SIGPIPE we ignore is not the plugin's business
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<std::string> argv = request.argv;
  std::vector<std::string> env = child_environment(request.env);
  auto argv_c = c_strings(argv);
  auto env_c = c_strings(env);
  int rc = posix_spawnp(&pid, argv_c[0], &actions, &attr, argv_c.data(), env_c.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return rc;
}

void kill_group(pid_t pid) { ::kill(-pid, SIGKILL); }

void record_status(int status, PluginProcessResult& result) {
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
}

}  // namespace

PluginProcessResult run_plugin_process(const PluginProcessRequest& request) {
  PluginProcessResult result;
  if (request.argv.empty()) {
    result.spawn_error = ENOENT;
    return result;
  }
  Pipe out, err;
  if (int e = out.open()) return result.spawn_error = e, result;
  if (int e = err.open()) return result.spawn_error = e, result;
  pid_t pid = -1;
  if (int e = spawn(request, out, err, pid)) return result.spawn_error = e, result;
  out.close_write();
  err.close_write();

  auto deadline = Clock::now() + request.timeout;
  bool out_open = true, err_open = true;
  char buffer[16384];
  while ((out_open || err_open) && !result.timed_out && !result.stdout_too_large) {
    pollfd fds[2] = {{out_open ? out.read : -1, POLLIN, 0}, {err_open ? err.read : -1, POLLIN, 0}};
    int ready = ::poll(fds, 2, milliseconds_until(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      result.timed_out = ready == 0;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      if (i == 0) {
        if (result.out.size() + static_cast<std::size_t>(n) > request.max_stdout) {
          result.stdout_too_large = true;
        } else {
          result.out.append(buffer, static_cast<std::size_t>(n));
        }
      } else {
        result.err.append(buffer, static_cast<std::size_t>(n));
        if (result.err.size() > request.max_stderr) result.err.erase(0, result.err.size() - request.max_stderr);
      }
    }
  }
  bool killed = result.timed_out || result.stdout_too_large;
  if (killed) kill_group(pid);

  // Both pipes are closed (or the plugin is being killed): reap it, still within the deadline, since
  // a plugin may close its output and keep running.
  int status = 0;
  for (;;) {
    pid_t done = ::waitpid(pid, &status, killed ? 0 : WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) return result;  // reaped elsewhere (a SIGCHLD handler): no status to report
    if (milliseconds_until(deadline) == 0) {
      result.timed_out = killed = true;
      kill_group(pid);
      continue;
    }
    ::poll(nullptr, 0, std::min(10, milliseconds_until(deadline)));
  }
  record_status(status, result);
  return result;
}

}  // namespace refit::kube
