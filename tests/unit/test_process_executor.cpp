// Real command execution: small /bin/sh scripts (sh is only the program under test; the executor
// never uses a shell) show what is captured, what the child gets, how timeouts end a process group,
// and what `plan` refuses.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "exec/process_executor.hpp"
#include "temp_dir.hpp"

using namespace refit::exec;
namespace fs = std::filesystem;

using refit::testing::TempDir;

namespace {

std::vector<std::string> sh(const std::string& script) { return {"/bin/sh", "-c", script}; }

Result run_sh(const std::string& script, ProcessExecutorOptions options = {},
              std::optional<std::int64_t> timeout = {}) {
  ProcessExecutor executor(true, std::move(options));
  Request request;
  request.argv = sh(script);
  request.timeout_ms = timeout;
  return executor.run(request);
}

void write_file(const fs::path& p, const std::string& text, fs::perms perms) {
  std::ofstream(p) << text;
  fs::permissions(p, perms);
}

// Whether a process still runs (a zombie waiting for its new parent to reap it has ended).
bool running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  char state = line[line.rfind(')') + 2];
  return state != 'Z' && state != 'X';
}

// Bounded: a killed process takes a moment to be gone from /proc.
bool ends_within_5s(pid_t pid) {
  for (int i = 0; i < 500 && running(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return !running(pid);
}

}  // namespace

TEST_CASE("process: stdout and stderr are captured separately, with the exit code", "[exec]") {
  Result r = run_sh("printf 'out1\\nout2\\n'; printf 'err1\\n' >&2; printf 'out3'; exit 3");
  CHECK(r.code == 3);
  CHECK(r.out == "out1\nout2\nout3");
  CHECK(r.err == "err1\n");
  CHECK_FALSE(r.changed);
  CHECK(r.duration_ms >= 0);
  CHECK(run_sh("true").code == 0);
}

TEST_CASE("process: the argv reaches the program as given, never re-parsed by a shell", "[exec]") {
  ProcessExecutor executor(true);
  Request request;
  request.argv = {"/bin/sh", "-c", "printf '[%s]\\n' \"$@\"", "sh", "a b", "$HOME", "'q'", "x;y", ""};
  Result r = executor.run(request);
  CHECK(r.out == "[a b]\n[$HOME]\n['q']\n[x;y]\n[]\n");
}

TEST_CASE("process: a death by signal is 128 + the signal, which the result names", "[exec]") {
  CHECK(run_sh("kill -TERM $$").code == 143);
  CHECK(run_sh("kill -KILL $$").code == 137);
  ProcessSpec spec;
  spec.argv = sh("kill -KILL $$");
  ProcessResult killed = run_process(spec);
  CHECK(killed.started);
  CHECK(killed.signal == 9);
  spec.argv = sh("exit 137");  // the same code, but an exit
  ProcessResult exited = run_process(spec);
  CHECK(exited.code == 137);
  CHECK(exited.signal == 0);
}

TEST_CASE("process: the environment is ours with the overrides set over it", "[exec]") {
  REQUIRE(::setenv("REFIT_EXEC_TEST_INHERITED", "from refit", 1) == 0);
  REQUIRE(::setenv("REFIT_EXEC_TEST_OVERRIDDEN", "old", 1) == 0);
  ProcessExecutorOptions options;
  options.env = {{"REFIT_EXEC_TEST_OVERRIDDEN", "new value"}, {"REFIT_EXEC_TEST_ADDED", "a=b"}};
  Result r = run_sh("printf '%s|%s|%s|' \"$REFIT_EXEC_TEST_INHERITED\" \"$REFIT_EXEC_TEST_OVERRIDDEN\" "
                    "\"$REFIT_EXEC_TEST_ADDED\"; env | grep -c '^REFIT_EXEC_TEST_OVERRIDDEN='",
                    options);
  CHECK(r.out == "from refit|new value|a=b|1\n");
  ::unsetenv("REFIT_EXEC_TEST_INHERITED");
  ::unsetenv("REFIT_EXEC_TEST_OVERRIDDEN");
}

TEST_CASE("process: the working directory, and one that does not exist", "[exec]") {
  TempDir dir;
  ProcessExecutorOptions options;
  options.working_directory = dir.root();
  CHECK(run_sh("pwd", options).out == dir.root() + "\n");

  options.working_directory = dir.path("missing");
  CHECK_THROWS_AS(run_sh("pwd", options), SpawnError);
  CHECK_THROWS_WITH(run_sh("pwd", options),
                    "the working directory " + options.working_directory +
                        " cannot be used: No such file or directory");
  write_file(dir.path("file"), "", fs::perms::owner_read);
  options.working_directory = dir.path("file");
  CHECK_THROWS_WITH(run_sh("pwd", options),
                    "the working directory " + options.working_directory + " is not a directory");
}

TEST_CASE("process: stdin is /dev/null; no descriptor of ours leaks; it leads its own process group", "[exec]") {
  CHECK(run_sh("readlink /proc/self/fd/0").out == "/dev/null\n");
  CHECK(run_sh("cat").out.empty());  // returns at once: nothing to read

  int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC
  REQUIRE(leaked >= 3);
  Result fds = run_sh("for fd in 0 1 2 " + std::to_string(leaked) +
                      "; do [ -e /proc/$$/fd/$fd ] && echo open || echo closed; done");
  ::close(leaked);
  CHECK(fds.out == "open\nopen\nopen\nclosed\n");

  // /proc/PID/stat field 5 is the process group: the shell's own pid.
  Result group = run_sh("echo $$; cut -d' ' -f5 /proc/$$/stat");
  auto nl = group.out.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(group.out.substr(0, nl + 1) == group.out.substr(nl + 1));
  CHECK(group.out.substr(0, nl) != std::to_string(::getpgrp()));
}

TEST_CASE("process: a timeout ends the whole process group, grandchildren too", "[exec]") {
  ProcessExecutorOptions options;
  options.kill_grace_ms = 5000;
  Result r = run_sh("sleep 30 & echo $!; wait", options, 300);
  CHECK(r.code == 143);  // the shell died of the SIGTERM
  pid_t grandchild = std::stoi(r.out);
  CHECK(r.out == std::to_string(grandchild) + "\n");
  CHECK(r.err == "[refit: timed out after 300ms: its process group was sent SIGTERM]\n");
  CHECK(r.duration_ms >= 300);
  CHECK(ends_within_5s(grandchild));
}

TEST_CASE("process: what ignores SIGTERM gets SIGKILL after the grace period", "[exec]") {
  ProcessSpec spec;
  spec.argv = sh("trap '' TERM; sleep 30 & echo $!; wait");
  spec.timeout_ms = 200;
  spec.kill_grace_ms = 200;
  ProcessResult r = run_process(spec);
  CHECK(r.timed_out);
  CHECK(r.sigkilled);
  CHECK(r.code == 137);
  CHECK(r.duration_ms >= 400);
  CHECK(ends_within_5s(std::stoi(r.out)));

  ProcessExecutorOptions options;
  options.kill_grace_ms = 200;
  Result er = run_sh("trap '' TERM; printf 'partial'; sleep 30", options, 200);
  CHECK(er.out == "partial");
  CHECK(er.err == "[refit: timed out after 200ms: its process group was sent SIGTERM, then SIGKILL 200ms later]\n");
}

TEST_CASE("process: a program that exits while what it started holds its output is done after the grace", "[exec]") {
  ProcessSpec spec;
  spec.argv = sh("sleep 30 & echo started $!");
  spec.kill_grace_ms = 100;
  ProcessResult r = run_process(spec);
  CHECK(r.code == 0);
  CHECK_FALSE(r.timed_out);
  REQUIRE(r.out.rfind("started ", 0) == 0);
  pid_t background = std::stoi(r.out.substr(8));
  CHECK(running(background));  // not a timeout: what it started in the background is left alone
  ::kill(background, SIGKILL);
}

TEST_CASE("process: output beyond the cap is counted and said, not kept", "[exec]") {
  ProcessSpec spec;
  spec.argv = sh("head -c 5000 /dev/zero | tr '\\0' a; head -c 300 /dev/zero | tr '\\0' b >&2");
  spec.output_cap = 1000;
  ProcessResult r = run_process(spec);
  CHECK(r.out == std::string(1000, 'a'));
  CHECK(r.out_dropped == 4000);
  CHECK(r.err == std::string(300, 'b'));
  CHECK(r.err_dropped == 0);

  ProcessExecutorOptions options;
  options.output_cap = 1024;
  Result er = run_sh("head -c 5000 /dev/zero | tr '\\0' a", options);
  CHECK(er.out == std::string(1024, 'a') + "\n[refit: 3976 more bytes of stdout were dropped: only the first 1 KiB "
                                           "are kept]\n");

  // Both streams well past a pipe's buffer, written in turns: neither blocks the other.
  Result big = run_sh("i=0; while [ $i -lt 40 ]; do head -c 10000 /dev/zero | tr '\\0' o; "
                      "head -c 10000 /dev/zero | tr '\\0' e >&2; i=$((i+1)); done");
  CHECK(big.out == std::string(400000, 'o'));
  CHECK(big.err == std::string(400000, 'e'));
}

TEST_CASE("process: lines are streamed as they come, per stream, the last one without a newline", "[exec]") {
  std::vector<std::string> out_lines, err_lines;
  ProcessExecutorOptions options;
  options.on_line = [&](OutputStream s, std::string_view line) {
    (s == OutputStream::Out ? out_lines : err_lines).emplace_back(line);
  };
  options.output_cap = 4;  // the cap limits what is kept, not what is shown
  Result r = run_sh("printf 'one\\ntwo\\n'; printf 'oops\\n\\n' >&2; printf 'three'", options);
  CHECK(out_lines == std::vector<std::string>{"one", "two", "three"});
  CHECK(err_lines == std::vector<std::string>{"oops", ""});
  CHECK(r.out == "one\n[refit: 9 more bytes of stdout were dropped: only the first 4 bytes are kept]\n");
  CHECK(r.err == "oops\n[refit: 2 more bytes of stderr were dropped: only the first 4 bytes are kept]\n");

  // A line longer than 64 KiB comes in pieces of 64 KiB.
  std::vector<std::size_t> sizes;
  options.on_line = [&sizes](OutputStream, std::string_view line) { sizes.push_back(line.size()); };
  run_sh("head -c 150000 /dev/zero | tr '\\0' x", options);
  CHECK(sizes == std::vector<std::size_t>{65536, 65536, 18928});
}

TEST_CASE("process: a program not found is 127, named with the PATH searched", "[exec]") {
  ProcessExecutorOptions options;
  options.env = {{"PATH", "/nonexistent:/also-missing"}};
  ProcessExecutor executor(true, options);
  Request request;
  request.argv = {"refit-no-such-tool", "--version"};
  Result r = executor.run(request);
  CHECK(r.code == 127);
  CHECK(r.out.empty());
  CHECK(r.err == "refit-no-such-tool: command not found (searched PATH=/nonexistent:/also-missing)\n");

  request.argv = {"/nonexistent/tool"};
  Result path = executor.run(request);
  CHECK(path.code == 127);
  CHECK(path.err == "/nonexistent/tool: no such file\n");

  // What did not start says so; a program that ran and exited 127 itself did start.
  ProcessSpec spec;
  spec.argv = {"/nonexistent/tool"};
  CHECK_FALSE(run_process(spec).started);
  spec.argv = sh("exit 127");
  ProcessResult ran = run_process(spec);
  CHECK(ran.code == 127);
  CHECK(ran.started);
}

TEST_CASE("process: the program is looked up on the child's PATH; a file that is not executable is 126", "[exec]") {
  TempDir dir;
  write_file(dir.path("refit-test-tool"), "#!/bin/sh\necho \"tool $1\"\n", fs::perms::owner_all);
  write_file(dir.path("refit-test-data"), "#!/bin/sh\n", fs::perms::owner_read | fs::perms::owner_write);
  ProcessExecutorOptions options;
  options.env = {{"PATH", "/nonexistent:" + dir.root()}};
  ProcessExecutor executor(true, options);
  Request request;
  request.argv = {"refit-test-tool", "x"};
  Result r = executor.run(request);
  CHECK(r.code == 0);
  CHECK(r.out == "tool x\n");

  request.argv = {"refit-test-data"};
  Result data = executor.run(request);
  CHECK(data.code == 126);
  CHECK(data.err == "refit-test-data: found on PATH=/nonexistent:" + dir.root() +
                        " but not executable (permission denied)\n");
}

TEST_CASE("process: plan refuses a command marked mutates, before running it", "[exec]") {
  TempDir dir;
  const fs::path marker = dir.path("ran");
  Request request;
  request.argv = sh("touch '" + marker.string() + "'");
  request.mutates = true;

  ProcessExecutor plan(false);
  CHECK_THROWS_AS(plan.run(request), MutatingCommandRefused);
  CHECK_THROWS_WITH(plan.run(request), "plan never runs a command marked mutates = true: /bin/sh -c 'touch '\\''" +
                                           marker.string() + "'\\''' (refit apply runs it)");
  CHECK_FALSE(fs::exists(marker));

  request.mutates = false;
  CHECK(plan.run(request).code == 0);  // read-only commands run
  CHECK(fs::exists(marker));

  fs::remove(marker);
  request.mutates = true;
  CHECK(ProcessExecutor(true).run(request).code == 0);
  CHECK(fs::exists(marker));
}

TEST_CASE("process: an empty argv is refused", "[exec]") {
  CHECK_THROWS_WITH(run_process(ProcessSpec{}), "cannot run an empty command (no program name)");
}
