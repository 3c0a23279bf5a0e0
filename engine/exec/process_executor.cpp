#include "exec/process_executor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "report/duration_text.hpp"
#include "run/interrupt.hpp"

extern char** environ;

namespace refit::exec {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxLine = 64 * 1024;

std::int64_t ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
};

Pipe make_pipe() {
  int fds[2];
  // O_CLOEXEC: a process another thread spawns meanwhile must not inherit our ends.
  if (::pipe2(fds, O_CLOEXEC) != 0) throw SpawnError(fmt::format("cannot make a pipe: {}", std::strerror(errno)));
  return {Fd(fds[0]), Fd(fds[1])};
}

// Our environment with `overrides` set over it, as "KEY=value" strings.
std::vector<std::string> child_environment(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    std::string_view key = entry.substr(0, entry.find('='));
    if (!overrides.count(std::string(key))) env.emplace_back(entry);
  }
  for (const auto& [key, value] : overrides) env.push_back(key + "=" + value);
  return env;
}

std::string path_of(const std::vector<std::string>& env) {
  for (const auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) return e.substr(5);
  }
  return "/usr/local/bin:/usr/bin:/bin";  // what execvp uses without a PATH
}

struct Lookup {
  std::string program;  // the path to spawn; empty when not found
  int code = 0;         // 127 not found, 126 found but not executable
};

// The program on the child's PATH (posix_spawnp would search ours, even when `env` sets another).
// Relative PATH entries are relative to the child's working directory, as they are for the child.
Lookup find_program(const std::string& name, const std::string& path, const std::string& cwd) {
  if (name.find('/') != std::string::npos) return {name, 0};
  bool not_executable = false;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = end == start ? std::string(".") : path.substr(start, end - start);  // "" is the directory
    if (dir[0] != '/' && !cwd.empty()) dir = cwd + "/" + dir;
    std::string candidate = dir + "/" + name;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (::access(candidate.c_str(), X_OK) == 0) return {candidate, 0};
      not_executable = true;
    }
    start = end + 1;
  }
  return {"", not_executable ? 126 : 127};
}

// Keeps the first `cap` bytes of a stream and counts the rest; splits it into lines for the callback.
class Capture {
 public:
  Capture(OutputStream stream, std::size_t cap, const LineCallback& on_line)
      : stream_(stream), cap_(cap), on_line_(on_line) {}

  void add(const char* data, std::size_t n) {
    std::size_t keep = std::min(n, cap_ - std::min(cap_, text.size()));
    text.append(data, keep);
    dropped += n - keep;
    if (!on_line_) return;
    pending_.append(data, n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
      on_line_(stream_, std::string_view(pending_).substr(start, nl - start));
    }
    pending_.erase(0, start);
    while (pending_.size() >= kMaxLine) {
      on_line_(stream_, std::string_view(pending_).substr(0, kMaxLine));
      pending_.erase(0, kMaxLine);
    }
  }

  void finish() {
    if (on_line_ && !pending_.empty()) on_line_(stream_, pending_);
    pending_.clear();
  }

  std::string text;
  std::size_t dropped = 0;

 private:
  OutputStream stream_;
  std::size_t cap_;
  const LineCallback& on_line_;
  std::string pending_;
};

// posix_spawn's attribute and file-action objects, destroyed on every path.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

void check_working_directory(const std::string& dir) {
  if (dir.empty()) return;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    throw SpawnError(fmt::format("the working directory {} cannot be used: {}", dir, std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) throw SpawnError(fmt::format("the working directory {} is not a directory", dir));
}

}  // namespace

ProcessResult run_process(const ProcessSpec& spec) {
  if (spec.argv.empty()) throw SpawnError("cannot run an empty command (no program name)");
  check_working_directory(spec.working_directory);
  const std::vector<std::string> env = child_environment(spec.env);
  const std::string& name = spec.argv[0];
  ProcessResult result;

  Lookup found = find_program(name, path_of(env), spec.working_directory);
  if (found.code == 127) {
    result.code = 127;
    result.err = fmt::format("{}: command not found (searched PATH={})\n", name, path_of(env));
    return result;
  }
  if (found.code == 126) {
    result.code = 126;
    result.err = fmt::format("{}: found on PATH={} but not executable (permission denied)\n", name, path_of(env));
    return result;
  }

  Pipe out = make_pipe(), err = make_pipe();
  SpawnSetup s;
  posix_spawn_file_actions_addopen(&s.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&s.actions, out.write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&s.actions, err.write.get(), STDERR_FILENO);
  // Descriptors other threads opened without O_CLOEXEC (sockets, files) stay ours.
  posix_spawn_file_actions_addclosefrom_np(&s.actions, 3);
  if (!spec.working_directory.empty()) {
    posix_spawn_file_actions_addchdir_np(&s.actions, spec.working_directory.c_str());
  }
  // Its own process group, so that a timeout reaches whatever it started; signals as a fresh
  // process has them (we may ignore SIGPIPE, block others).
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&s.attr, 0);
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setsigdefault(&s.attr, &all);

  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  const Clock::time_point started = Clock::now();
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, found.program.c_str(), &s.actions, &s.attr, argv.data(), envp.data());
  if (rc == ENOENT || rc == EACCES || rc == ENOEXEC) {
    result.code = rc == ENOENT ? 127 : 126;
    result.err = rc == ENOENT    ? fmt::format("{}: no such file\n", name)
                 : rc == EACCES ? fmt::format("{}: permission denied\n", name)
                                : fmt::format("{}: cannot execute: not a program or a script with #!\n", name);
    return result;
  }
  if (rc != 0) throw SpawnError(fmt::format("cannot start {}: {}", display_command(spec.argv), std::strerror(rc)));
  // A first interrupt lets the command finish (its group does not get the terminal's SIGINT); a
  // second one ends its group (run/interrupt.hpp).
  run::interrupt::RunningCommand running(pid);
  out.write.reset();
  err.write.reset();

  // Wakes poll() when the process exits even while something it started keeps the pipes open.
  // (glibc 2.36's <sys/pidfd.h> declares pidfd_open without C linkage: call it directly.)
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  Capture captures[2] = {{OutputStream::Out, spec.output_cap, spec.on_line},
                         {OutputStream::Err, spec.output_cap, spec.on_line}};
  Fd* streams[2] = {&out.read, &err.read};

  std::optional<Clock::time_point> deadline;
  if (spec.timeout_ms) deadline = started + std::chrono::milliseconds(std::max<std::int64_t>(*spec.timeout_ms, 0));
  const auto grace = std::chrono::milliseconds(std::max<std::int64_t>(spec.kill_grace_ms, 0));
  std::optional<Clock::time_point> kill_at;  // SIGKILL then, after a timeout's SIGTERM
  std::optional<Clock::time_point> exited_at;
  bool killed = false;
  int status = 0;
  int backoff_ms = 1;  // without a pidfd: how long to sleep before looking for the exit again
  char buf[65536];

  for (;;) {
    const Clock::time_point now = Clock::now();
    if (!exited_at) {
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid || (w < 0 && errno == ECHILD)) {
        exited_at = now;
        pidfd.reset();
      }
    }
    const bool reading = out.read.open() || err.read.open();
    if (exited_at && !reading) break;
    // What the process started may hold the pipes after it exits: read for a grace period, no longer.
    if (exited_at && now >= *exited_at + grace) break;
    if (deadline && !result.timed_out && now >= *deadline) {
      result.timed_out = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + grace;
    }
    if (kill_at && !killed && now >= *kill_at) {
      ::kill(-pid, SIGKILL);
      killed = true;
    }

    std::optional<Clock::time_point> wake;
    auto earliest = [&wake](std::optional<Clock::time_point> t) {
      if (t && (!wake || *t < *wake)) wake = t;
    };
    if (!result.timed_out) earliest(deadline);
    if (!killed) earliest(kill_at);
    if (exited_at) earliest(*exited_at + grace);
    int timeout = -1;
    if (wake) timeout = static_cast<int>(std::clamp<std::int64_t>(ms_between(now, *wake) + 1, 0, 60'000));
    if (!exited_at && !pidfd.open()) {
      timeout = timeout < 0 ? backoff_ms : std::min(timeout, backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, 100);
    }

    pollfd fds[3];
    int n = 0;
    for (Fd* f : streams) {
      if (f->open()) fds[n++] = {f->get(), POLLIN, 0};
    }
    if (pidfd.open()) fds[n++] = {pidfd.get(), POLLIN, 0};
    if (::poll(fds, static_cast<nfds_t>(n), timeout) < 0) {
      if (errno == EINTR) continue;
      throw SpawnError(fmt::format("cannot wait for {}: {}", display_command(spec.argv), std::strerror(errno)));
    }
    for (int i = 0; i < 2; ++i) {
      Fd& f = *streams[i];
      if (!f.open()) continue;
      pollfd* p = std::find_if(fds, fds + n, [&f](const pollfd& x) { return x.fd == f.get(); });
      if (p == fds + n || p->revents == 0) continue;
      ssize_t got = ::read(f.get(), buf, sizeof buf);
      if (got > 0) {
        captures[i].add(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        f.reset();
      }
    }
  }

  // A timeout ends the whole group: what is left of it (a descendant that ignored SIGTERM and closed
  // its output, so the loop did not wait for it) goes now.
  if (result.timed_out && !killed) ::kill(-pid, SIGKILL);
  out.read.reset();
  err.read.reset();
  for (auto& c : captures) c.finish();
  result.duration_ms = ms_between(started, Clock::now());
  if (WIFSIGNALED(status)) result.code = 128 + WTERMSIG(status);
  else if (WIFEXITED(status)) result.code = WEXITSTATUS(status);
  result.out = std::move(captures[0].text);
  result.err = std::move(captures[1].text);
  result.out_dropped = captures[0].dropped;
  result.err_dropped = captures[1].dropped;
  result.sigkilled = killed;
  return result;
}

namespace {

std::string size_text(std::size_t bytes) {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0) return fmt::format("{} MiB", bytes / (1024 * 1024));
  if (bytes >= 1024 && bytes % 1024 == 0) return fmt::format("{} KiB", bytes / 1024);
  return fmt::format("{} bytes", bytes);
}

// Says, at the end of a captured stream, how much of it was not kept.
void note_dropped(std::string& text, std::size_t dropped, std::size_t cap, const char* stream) {
  if (dropped == 0) return;
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += fmt::format("[refit: {} more bytes of {} were dropped: only the first {} are kept]\n", dropped, stream,
                      size_text(cap));
}

}  // namespace

ProcessExecutor::ProcessExecutor(bool allow_mutating, ProcessExecutorOptions options)
    : allow_mutating_(allow_mutating), options_(std::move(options)) {}

Result ProcessExecutor::run(const Request& request) {
  if (request.mutates && !allow_mutating_) {
    throw MutatingCommandRefused(fmt::format(
        "plan never runs a command marked mutates = true: {} (refit apply runs it)", display_command(request.argv)));
  }
  ProcessSpec spec;
  spec.argv = request.argv;
  spec.env = options_.env;
  spec.working_directory = options_.working_directory;
  spec.timeout_ms = request.timeout_ms;
  spec.kill_grace_ms = options_.kill_grace_ms;
  spec.output_cap = options_.output_cap;
  spec.on_line = options_.on_line;
  ProcessResult p = run_process(spec);

  Result r;
  r.code = p.code;
  r.out = std::move(p.out);
  r.err = std::move(p.err);
  r.duration_ms = p.duration_ms;
  note_dropped(r.out, p.out_dropped, spec.output_cap, "stdout");
  note_dropped(r.err, p.err_dropped, spec.output_cap, "stderr");
  if (p.timed_out) {
    if (!r.err.empty() && r.err.back() != '\n') r.err += '\n';
    r.err += fmt::format("[refit: timed out after {}: its process group was sent SIGTERM{}]\n",
                         report::duration_text(*request.timeout_ms),
                         p.sigkilled ? fmt::format(", then SIGKILL {} later", report::duration_text(spec.kill_grace_ms))
                                     : "");
  }
  return r;
}

}  // namespace refit::exec
