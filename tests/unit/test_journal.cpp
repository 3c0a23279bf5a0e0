// The run journal: the sink's file (0600, appended, synced, with the session's fields in run_started),
// run ids and their prefixes, and the reader: what a run's journal says (statuses, steps, the
// interrupted one, expansions, ctx.state), a torn last line tolerated, a damaged one refused.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "run/interrupt.hpp"
#include "run/journal.hpp"
#include "run/journal_reader.hpp"
#include "temp_dir.hpp"

using namespace refit::run;
using namespace refit::run::journal;
namespace fs = std::filesystem;

using refit::testing::TempDir;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

std::string started(const std::string& mode, const std::string& host, long pid) {
  return R"({"event":"run_started","time":0,"mode":")" + mode + R"(","playbook":"demo","host":")" + host +
         R"(","pid":)" + std::to_string(pid) + R"(,"wall":"2026-11-21T10:15:02.123Z"})";
}

// An apply that ran step a, began step b's run and changed the world in it, then stopped.
std::string interrupted_apply(const std::string& host = "elsewhere", long pid = 1) {
  return started("apply", host, pid) + "\n" +
         R"({"event":"preflight_finished","time":0,"ok":true,"failed":0})" "\n"
         R"({"event":"step_started","time":0,"step":"a","index":1})" "\n"
         R"({"event":"phase_started","time":0,"step":"a","phase":"run"})" "\n"
         R"({"event":"state_set","time":0,"step":"a","phase":"run","key":"saved","value":{"n":1}})" "\n"
         R"({"event":"mutation","time":0,"step":"a","phase":"run","verb":"create"})" "\n"
         R"({"event":"step_finished","time":5,"step":"a","status":"succeeded","changed":true})" "\n"
         R"({"event":"step_expanded","time":5,"step":"each","phase":"expand","steps":["each[x]"],"items":[{"name":"x"}]})" "\n"
         R"({"event":"step_started","time":5,"step":"each[x]","index":2})" "\n"
         R"({"event":"phase_started","time":5,"step":"each[x]","phase":"run"})" "\n"
         R"({"event":"state_set","time":6,"step":"each[x]","phase":"run","key":"saved","value":2})" "\n";
}

}  // namespace

TEST_CASE("the reader rebuilds a run's steps, expansions and ctx.state from its journal", "[journal]") {
  RunHistory h = parse_history(interrupted_apply(), "/j/r.jsonl", "r");
  REQUIRE(h.sessions.size() == 1);
  CHECK(h.sessions[0].mode == "apply");
  CHECK(h.preflight_passed);
  CHECK(h.changed);
  CHECK(h.state == nlohmann::json{{"saved", 2}});
  CHECK(h.last_step == "each[x]");
  REQUIRE(h.steps.size() == 2);
  const StepRecord* a = h.step("a");
  CHECK((a->finished && a->completed && a->changed && a->run_started && a->status == "succeeded"));
  const StepRecord* x = h.interrupted_step();
  REQUIRE(x != nullptr);
  CHECK(x->name == "each[x]");
  CHECK((x->run_started && !x->finished && !x->changed && x->index == 2));
  CHECK(h.last_incomplete_step() == x);
  REQUIRE(h.expansion("each") != nullptr);
  CHECK(h.expansion("each")->items == nlohmann::json::parse(R"([{"name":"x"}])"));
  CHECK(h.expansion("each")->steps == std::vector<std::string>{"each[x]"});
  CHECK(h.status() == "interrupted");
  CHECK(!h.torn_tail);
}

TEST_CASE("a torn last line is dropped; a torn line before the next session's run_started too", "[journal]") {
  std::string text = interrupted_apply() + R"({"event":"mutation","time":7,"step":"each[x]","ph)";
  RunHistory h = parse_history(text, "/j/r.jsonl", "r");
  CHECK(h.torn_tail);
  CHECK(!h.step("each[x]")->changed);  // the torn mutation is not counted

  // The next session (a resume) began a new line after it, as the sink does.
  RunHistory resumed = parse_history(text + "\n" + started("resume", "elsewhere", 2) + "\n", "/j/r.jsonl", "r");
  CHECK(!resumed.torn_tail);
  CHECK(resumed.sessions.size() == 2);
  CHECK(resumed.sessions[1].mode == "resume");
}

TEST_CASE("a damaged line inside a session is an error naming the file and line", "[journal]") {
  std::string text = started("apply", "h", 1) + "\n{not json\n" +
                     R"({"event":"step_started","time":0,"step":"a","index":1})" "\n";
  REQUIRE_THROWS_WITH(parse_history(text, "/j/r.jsonl", "r"),
                      "/j/r.jsonl:2: the journal is damaged: this line is not a JSON record (only a run's last line "
                      "may be cut short); refit cannot tell what the run did after it");
}

TEST_CASE("a run's status: its last session's outcome, else running or interrupted", "[journal]") {
  std::string finished = R"({"event":"run_finished","time":9,"status":"rolled_back","exit_code":3,"changed":true})";
  CHECK(parse_history(interrupted_apply() + finished + "\n", "p", "r").status() == "rolled_back");
  // A later session decides.
  std::string resumed = interrupted_apply() + started("resume", "elsewhere", 1) + "\n" +
                        R"({"event":"run_finished","time":9,"status":"succeeded","exit_code":0})" "\n";
  CHECK(parse_history(resumed, "p", "r").status() == "succeeded");
  // Unfinished: running while its process lives on this host, interrupted when it does not.
  CHECK(parse_history(interrupted_apply(this_host(), ::getpid()), "p", "r").status() == "running");
  CHECK(parse_history(interrupted_apply("another-host", ::getpid()), "p", "r").status() == "interrupted");
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(parse_history(interrupted_apply(this_host(), child), "p", "r").status() == "interrupted");
  CHECK(parse_history("", "p", "r").status() == "interrupted");
}

TEST_CASE("a session another run's lease kept out takes no part in the run's status", "[journal]") {
  const std::string locked = R"({"event":"run_finished","time":0,"status":"precondition_failed","exit_code":2,)"
                             R"("changed":false,"locked":true})" "\n";
  // A killed apply, then a resume refused by another run's lease: still interrupted, resumable.
  RunHistory h = parse_history(interrupted_apply() + started("resume", "h2", 1) + "\n" + locked, "p", "r");
  REQUIRE(h.sessions.size() == 2);
  CHECK(h.sessions[1].locked_out);
  CHECK(h.last_session() == &h.sessions[0]);
  CHECK(h.status() == "interrupted");
  // A rollback that stopped, then one refused by a lease: it still stopped rolling back.
  std::string rolling = interrupted_apply() + started("rollback", "h2", 1) + "\n" +
                        R"({"event":"rollback_started","time":7,"phase":"rollback","requested":true})" "\n" +
                        started("rollback", "h3", 1) + "\n" + locked;
  CHECK(parse_history(rolling, "p", "r").stopped_rolling_back());
  // An apply refused at once is that, its only session.
  RunHistory refused = parse_history(started("apply", "h1", 1) + "\n" + locked, "p", "r");
  CHECK(refused.last_session() == &refused.sessions[0]);
  CHECK(refused.status() == "precondition_failed");
}

TEST_CASE("a run that stopped while rolling back says so; rolled-back steps and cleanups are kept", "[journal]") {
  std::string text = interrupted_apply() +
                     R"({"event":"step_finished","time":7,"step":"each[x]","status":"failed","changed":false})" "\n"
                     R"({"event":"rollback_started","time":7,"phase":"rollback","failed_step":"each[x]"})" "\n"
                     R"({"event":"step_rolled_back","time":7,"step":"each[x]","phase":"rollback","status":"succeeded"})" "\n";
  RunHistory h = parse_history(text, "p", "r");
  CHECK(h.stopped_rolling_back());
  CHECK(h.interrupted_step() == nullptr);
  CHECK(h.last_incomplete_step()->name == "each[x]");
  CHECK(h.step("each[x]")->rolled_back);
  CHECK(!h.step("a")->rolled_back);
  std::string cleaned = text + R"({"event":"cleanup_finished","time":8,"step":"a","phase":"cleanup","status":"failed"})"
                               "\n" R"({"event":"run_finished","time":9,"status":"failed","exit_code":4})" "\n";
  RunHistory done = parse_history(cleaned, "p", "r");
  CHECK(done.step("a")->cleaned_up);
  CHECK(!done.stopped_rolling_back());
  CHECK(done.status() == "failed");
}

TEST_CASE("a step a resume found done after its interruption counts as completed and changed", "[journal]") {
  std::string text = interrupted_apply() + started("resume", "elsewhere", 2) + "\n" +
                     R"({"event":"step_skipped","time":0,"step":"a","reason":"completed","index":1})" "\n"
                     R"({"event":"step_started","time":0,"step":"each[x]","index":2})" "\n"
                     R"({"event":"step_skipped","time":0,"step":"each[x]","reason":"done","completed":true})" "\n";
  RunHistory h = parse_history(text, "p", "r");
  const StepRecord* x = h.step("each[x]");
  CHECK((x->finished && x->completed && x->changed && x->run_started && x->status == "skipped"));
  CHECK(h.step("a")->status == "succeeded");  // passing over it changed nothing
  CHECK(h.interrupted_step() == nullptr);
}

TEST_CASE("the journal sink appends private, synced lines with the session's fields in run_started", "[journal]") {
  TempDir dir;
  std::string path = journal_path(dir.path("state"), "20261121-101502-3fa9c1");
  {
    JournalSink sink(path, {{"host", "h"}, {"resume", {{"playbook", "demo"}}}});
    sink.on_event(Event{"run_started", 0, "", "", {{"mode", "apply"}}});
    sink.on_event(Event{"step_started", 4, "a", "", {{"index", 1}}});
  }
  CHECK(mode_of(path) == 0600);
  CHECK(mode_of(dir.path("state")) == 0700);
  CHECK(mode_of(dir.path("state/runs")) == 0700);
  std::string text = read(path);
  auto first = nlohmann::json::parse(text.substr(0, text.find('\n')));
  CHECK(first["event"] == "run_started");
  CHECK(first["host"] == "h");
  CHECK(first["resume"]["playbook"] == "demo");
  CHECK(first["wall"].get<std::string>().size() == 24);  // 2026-11-21T10:15:02.123Z
  // The line -o json prints, then the wall time.
  CHECK(text.find("\n" R"({"event":"step_started","time":4,"step":"a","index":1,"wall":")") != std::string::npos);

  // A session killed mid-line: the next one starts a line of its own.
  { std::ofstream(path, std::ios::app) << R"({"event":"mutat)"; }
  {
    JournalSink sink(path, {{"host", "h2"}});
    sink.on_event(Event{"run_started", 0, "", "", {{"mode", "resume"}}});
  }
  RunHistory h = read_history(path, "20261121-101502-3fa9c1");
  REQUIRE(h.sessions.size() == 2);
  CHECK(h.sessions[1].started["host"] == "h2");
  CHECK(h.sessions[1].started.count("resume") == 0);
}

TEST_CASE("run ids sort by time; a unique prefix finds one, others are refused with what to do", "[journal]") {
  std::string id = new_run_id();
  CHECK(id.size() == 22);
  CHECK(id[8] == '-');
  CHECK(id[15] == '-');
  TempDir dir;
  for (const char* run : {"20261121-101502-3fa9c1", "20261121-101502-77aa00", "20261122-090000-000001"})
    JournalSink(journal_path(dir.root(), run), {});
  CHECK(run_ids(dir.root()) == std::vector<std::string>{"20261121-101502-3fa9c1", "20261121-101502-77aa00",
                                                      "20261122-090000-000001"});
  CHECK(find_run(dir.root(), "20261122") == "20261122-090000-000001");
  CHECK(find_run(dir.root(), "20261121-101502-3") == "20261121-101502-3fa9c1");
  REQUIRE_THROWS_WITH(find_run(dir.root(), "20261121"),
                      "run id 20261121 is ambiguous: it begins 2 runs (20261121-101502-3fa9c1, "
                      "20261121-101502-77aa00): give more of it");
  REQUIRE_THROWS_WITH(find_run(dir.root(), "2025"),
                      "no run 2025 in " + dir.root() + "/runs (refit runs lists the runs there; --state-dir DIR reads "
                      "another state directory)");
  REQUIRE_THROWS_WITH(find_run(dir.root(), "../x"),
                      "\"../x\" is not a run id (they look like 20261121-101502-3fa9c1; refit runs lists them)");
}

TEST_CASE("the state directory: --state-dir, else XDG_STATE_HOME, else HOME", "[journal]") {
  const char* xdg = std::getenv("XDG_STATE_HOME");
  std::string saved = xdg ? xdg : "";
  CHECK(state_dir(std::string("/given")) == "/given");
  ::setenv("XDG_STATE_HOME", "/xdg", 1);
  CHECK(state_dir(std::nullopt) == "/xdg/refit");
  ::setenv("XDG_STATE_HOME", "relative", 1);  // the spec says to ignore a relative one
  CHECK(state_dir(std::nullopt) == std::string(std::getenv("HOME")) + "/.local/state/refit");
  if (xdg) ::setenv("XDG_STATE_HOME", saved.c_str(), 1);
  else ::unsetenv("XDG_STATE_HOME");
}

TEST_CASE("the test hooks' variables must be journal line numbers", "[journal]") {
  ::setenv("REFIT_TEST_INTERRUPT_AFTER_EVENT", "3,9", 1);
  ::setenv("REFIT_TEST_KILL_AFTER_EVENT", "12", 1);
  TestHooks hooks = test_hooks_from_environment();
  CHECK(hooks.interrupt_after == std::vector<std::int64_t>{3, 9});
  CHECK(hooks.kill_after == 12);
  ::setenv("REFIT_TEST_INTERRUPT_AFTER_EVENT", "3,x", 1);
  REQUIRE_THROWS_WITH(test_hooks_from_environment(),
                      "REFIT_TEST_INTERRUPT_AFTER_EVENT=3,x: expected journal line numbers (positive integers, "
                      "separated by commas)");
  ::unsetenv("REFIT_TEST_INTERRUPT_AFTER_EVENT");
  ::unsetenv("REFIT_TEST_KILL_AFTER_EVENT");
}

TEST_CASE("a journal that cannot be written stops the run before its next call", "[journal]") {
  interrupt::reset();
  JournalSink sink("/dev/full", {});
  sink.on_event(Event{"run_started", 0, "", "", {{"mode", "apply"}}});
  REQUIRE(sink.failure());
  CHECK(*sink.failure() == "writing the run journal /dev/full failed: No space left on device");
  CHECK(interrupt::requested());
  CHECK(interrupt::cause() == "the run journal could not be written");
  interrupt::reset();
  CHECK(!interrupt::requested());
}

TEST_CASE("a stop refit asks for with a reason of its own (a lost lease) is an interrupt with that reason", "[journal]") {
  interrupt::reset();
  interrupt::request_stop("cluster demo: the Lease kube-system/refit-x is now held by run r2");
  CHECK(interrupt::requested());
  CHECK(interrupt::has_reason());
  CHECK(interrupt::cause() == "cluster demo: the Lease kube-system/refit-x is now held by run r2");
  // The first cause stands.
  interrupt::request_stop("another reason");
  CHECK(interrupt::cause() == "cluster demo: the Lease kube-system/refit-x is now held by run r2");
  interrupt::reset();
  CHECK(!interrupt::has_reason());
  interrupt::request(SIGINT);
  interrupt::request_stop("too late");
  CHECK(!interrupt::has_reason());
  CHECK(interrupt::cause() == "SIGINT");
  interrupt::reset();
}
