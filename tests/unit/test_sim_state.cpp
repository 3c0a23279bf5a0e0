// Kept simulated worlds (--sim-state): a world rebuilt from its file is the world that wrote it, at any
// line the file was cut at; a file that does not fit the run is refused with a reason.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cluster/sim/sim_runtime.hpp"
#include "data/sha256.hpp"
#include "run/session.hpp"
#include "run/sim_state/kept_world.hpp"
#include "run/sim_state/secret_markers.hpp"
#include "run/sim_state/state_error.hpp"
#include "temp_dir.hpp"

using refit::testing::TempDir;

namespace {

using Json = nlohmann::json;
using refit::run::simstate::KeptWorld;
using refit::run::simstate::KeptWorldOptions;
using refit::run::simstate::StateError;

const std::string kEksFixture = "examples/clusters/eks-1.20.yaml";
const std::string kDkpFixture = "examples/clusters/dkp-2.1-fleet.yaml";
const std::string kMinimalFixture = "tests/scripts/fixtures/minimal.yaml";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string joined(const std::vector<std::string>& lines, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += lines[i] + "\n";
  return out;
}

// Whether the run is inside a ctx:wait, from its events.
struct WaitTracker : refit::run::EventSink {
  int depth = 0;
  std::string status;
  bool changed = false;
  std::vector<std::string> skipped;  // "step: reason"
  void on_event(const refit::run::Event& event) override {
    if (event.name == "wait_started") ++depth;
    if (event.name == "wait_finished") --depth;
    if (event.name == "step_skipped") skipped.push_back(event.step + ": " + event.fields.value("reason", ""));
    if (event.name == "run_finished") {
      status = event.fields.value("status", "");
      changed = event.fields.value("changed", true);
    }
  }
};

refit::run::SessionOptions apply_options(const std::string& playbook, const std::string& fixture,
                                         const std::string& state, std::vector<std::string> sets = {}) {
  refit::run::SessionOptions options;
  options.playbook = playbook;
  options.mode = "apply";
  options.fixture = fixture;
  options.sim_state = state;
  options.sets = std::move(sets);
  // The run's leases are in the kept world, held by its run id: one id makes two runs write the same file.
  options.run_id = "20261121-101502-3fa9c1";
  return options;
}

struct Rebuilt {
  Json world;
  std::vector<std::string> warnings;
  std::size_t replayed = 0;
};

// The world as a fresh process rebuilds it from `state`, without recording (as refit plan does).
Rebuilt rebuild(const std::string& fixture, const std::string& state, std::uint64_t seed = 1,
                std::map<std::string, std::string> secrets = {}, bool record = false) {
  refit::lua::Vm vm{refit::lua::VmOptions{}};
  refit::run::prepare_vm(vm);
  refit::sim::World world(seed);
  refit::sim::SimRuntime runtime(vm, world);
  runtime.load(fixture, std::nullopt);
  KeptWorldOptions options;
  options.path = state;
  options.record = record;
  options.fixture = fixture;
  options.seed = seed;
  options.secrets = std::move(secrets);
  KeptWorld kept(options, runtime);
  return {runtime.dump(), kept.warnings(), kept.replayed()};
}

std::string rebuild_error(const std::string& fixture, const std::string& state, std::uint64_t seed = 1) {
  try {
    rebuild(fixture, state, seed);
  } catch (const StateError& e) {
    return e.what();
  }
  return "(no error)";
}

// Where two worlds first differ, for a readable failure.
std::string difference(const Json& a, const Json& b) {
  Json patch = Json::diff(a, b);
  return patch.empty() ? "" : patch.dump().substr(0, 1500);
}

// The lines at which the file is cut and the world rebuilt: the first write, the first mutating
// command, waits with model timers pending (the first and one halfway through them), the middle
// line and the last.
std::set<std::size_t> cut_points(const std::vector<std::string>& lines, const std::vector<std::size_t>& mid_wait) {
  std::set<std::size_t> cuts;
  std::optional<std::size_t> first_write, first_change;
  for (std::size_t n = 2; n <= lines.size(); ++n) {
    Json record = Json::parse(lines[n - 1]);
    if (!first_write && record.contains("write")) first_write = n;
    if (!first_change && record.value("mutates", false)) first_change = n;
  }
  REQUIRE(first_write);
  REQUIRE(first_change);
  cuts.insert(*first_write);
  cuts.insert(*first_change);
  REQUIRE(mid_wait.size() >= 2);
  cuts.insert(mid_wait.front());
  cuts.insert(mid_wait[mid_wait.size() / 2]);
  cuts.insert(lines.size() / 2);
  cuts.insert(lines.size());
  return cuts;
}

// Runs `playbook` to the end recording into a file, and checks that the world rebuilt from the file
// cut at several lines is the world the run had when it wrote that line.
void check_rebuilt_worlds(const std::string& playbook, const std::string& fixture, std::vector<std::string> sets) {
  TempDir dir;
  // First run: which lines are advances of the clock inside a wait with model timers pending.
  std::vector<std::size_t> mid_wait;
  WaitTracker tracker;
  auto first = apply_options(playbook, fixture, dir.path("first.jsonl"), sets);
  first.sim_state_observer = [&](std::size_t line, const std::string& text, refit::sim::SimRuntime& world) {
    if (tracker.depth > 0 && text.rfind("{\"advance\"", 0) == 0 && world.world().clock().pending() > 0) {
      mid_wait.push_back(line);
    }
  };
  refit::run::run_session(first, {&tracker});
  REQUIRE(tracker.status == "succeeded");
  const std::vector<std::string> lines = lines_of(read_file(dir.path("first.jsonl")));
  const std::set<std::size_t> cuts = cut_points(lines, mid_wait);

  // Second run, from scratch: the same lines (a kept run is deterministic), and the world at each cut.
  std::map<std::size_t, Json> worlds;
  auto second = apply_options(playbook, fixture, dir.path("second.jsonl"), sets);
  second.capture_world = true;
  second.sim_state_observer = [&](std::size_t line, const std::string&, refit::sim::SimRuntime& world) {
    if (cuts.count(line) != 0) worlds[line] = world.dump();
  };
  auto result = refit::run::run_session(second, {});
  CHECK(read_file(dir.path("second.jsonl")) == read_file(dir.path("first.jsonl")));
  REQUIRE(worlds.size() == cuts.size());
  CHECK(worlds[lines.size()] == result.world_after);

  for (std::size_t cut : cuts) {
    INFO(playbook << " cut after line " << cut << " of " << lines.size() << ": " << lines[cut - 1].substr(0, 200));
    std::string state = dir.path("cut.jsonl");
    write_file(state, joined(lines, cut));
    Rebuilt rebuilt = rebuild(fixture, state);
    CHECK(rebuilt.replayed == cut - 1);
    CHECK(difference(worlds[cut], rebuilt.world) == "");
  }
}

}  // namespace

TEST_CASE("a world rebuilt from its --sim-state file is the world that wrote it, wherever the file is cut",
          "[sim-state]") {
  SECTION("eks/upgrade") { check_rebuilt_worlds("eks/upgrade", kEksFixture, {"to=1.21"}); }
  SECTION("dkp/upgrade") { check_rebuilt_worlds("dkp/upgrade", kDkpFixture, {}); }
}

TEST_CASE("an apply that continues a kept world finds the work done; plan only reads the file", "[sim-state]") {
  TempDir dir;
  std::string state = dir.path("world.jsonl");
  auto options = apply_options("eks/upgrade", kEksFixture, state, {"to=1.21"});
  options.capture_world = true;
  WaitTracker first_events;
  auto first = refit::run::run_session(options, {&first_events});
  REQUIRE(first.outcome.status == refit::run::RunStatus::Succeeded);
  REQUIRE(first_events.changed);
  struct stat st {};
  REQUIRE(::stat(state.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  std::string written = read_file(state);
  auto plan = options;
  plan.mode = "plan";
  auto planned = refit::run::run_session(plan, {});
  CHECK(planned.world_before == first.world_after);
  CHECK(read_file(state) == written);

  WaitTracker second_events;
  auto second = refit::run::run_session(options, {&second_events});
  CHECK(second.outcome.status == refit::run::RunStatus::Succeeded);
  CHECK(second.world_before == first.world_after);
  CHECK_FALSE(second_events.changed);  // every step found its work done
  INFO("skipped: " << Json(second_events.skipped).dump());
  CHECK(std::count_if(second_events.skipped.begin(), second_events.skipped.end(),
                      [](const std::string& skip) { return skip.find(": done") != std::string::npos; }) >= 4);
  std::string grown = read_file(state);
  REQUIRE(grown.size() > written.size());
  CHECK(grown.compare(0, written.size(), written) == 0);  // appended to, never rewritten
}

TEST_CASE("a torn last line is dropped with a warning, and cut off before the next input is kept", "[sim-state]") {
  TempDir dir;
  std::string state = dir.path("world.jsonl");
  auto options = apply_options("eks/upgrade", kEksFixture, state, {"to=1.21"});
  refit::run::run_session(options, {});
  std::vector<std::string> lines = lines_of(read_file(state));
  REQUIRE(lines.size() > 40);
  const std::string whole = joined(lines, 30);
  std::string reference = dir.path("reference.jsonl");
  write_file(reference, whole);
  write_file(state, whole + lines[30].substr(0, lines[30].size() / 2));

  Rebuilt torn = rebuild(kEksFixture, state);
  CHECK(torn.replayed == 29);
  REQUIRE(torn.warnings.size() == 1);
  CHECK(torn.warnings[0] == state + ":31: the last line was cut short (a run was killed while writing it): dropped; "
                                    "the world is restored without that input");
  CHECK(torn.world == rebuild(kEksFixture, reference).world);
  CHECK(read_file(state).size() > whole.size());  // reading never cuts

  rebuild(kEksFixture, state, 1, {}, true);  // a recording run cuts the torn line before it keeps anything
  CHECK(read_file(state) == whole);
}

TEST_CASE("a header torn as the file was created starts the world over from the fixture", "[sim-state]") {
  TempDir dir;
  std::string state = dir.path("world.jsonl");
  write_file(state, "{\"refit_sim_state\":1,\"refit\":");
  Rebuilt plan = rebuild(kMinimalFixture, state);
  REQUIRE(plan.warnings.size() == 1);
  CHECK(plan.warnings[0] == "--sim-state " + state + ": the file holds no complete header (a run was killed as "
                                 "it created it): starting over from the fixture");
  rebuild(kMinimalFixture, state, 1, {}, true);
  std::vector<std::string> lines = lines_of(read_file(state));
  REQUIRE(lines.size() == 1);
  CHECK(Json::parse(lines[0])["refit_sim_state"] == 1);
}

TEST_CASE("a kept world that does not fit the run is refused, saying which part and how to go on", "[sim-state]") {
  TempDir dir;
  std::string state = dir.path("world.jsonl");
  auto options = apply_options("eks/upgrade", kEksFixture, state, {"to=1.21"});
  refit::run::run_session(options, {});
  const std::vector<std::string> lines = lines_of(read_file(state));
  const Json header = Json::parse(lines[0]);
  CHECK(header["fixture"] == kEksFixture);
  CHECK(header["fixture_sha256"] == refit::data::sha256_hex(read_file(kEksFixture)));
  CHECK(header["seed"] == 1);
  CHECK(header["scenario"].is_null());

  SECTION("another seed") {
    CHECK(rebuild_error(kEksFixture, state, 7) ==
          state + ": this world was recorded with --seed 1, and this run has --seed 7: pass --seed 1, or delete " +
              state + " to start over with seed 7");
  }
  SECTION("another fixture") {
    std::string changed = dir.path("eks.yaml");
    std::filesystem::copy_file(kEksFixture, changed);
    std::filesystem::copy_file("examples/clusters/eks-demo-workloads.yaml", dir.path("eks-demo-workloads.yaml"));
    write_file(changed, read_file(kEksFixture) + "\n# changed\n");
    std::string sha = refit::data::sha256_hex(read_file(changed)).substr(0, 12);
    CHECK(rebuild_error(changed, state) ==
          state + ": this world was recorded from fixture " + kEksFixture + " (sha256 " +
              header["fixture_sha256"].get<std::string>().substr(0, 12) + "), but " + changed + " has sha256 " + sha +
              ": run with the fixture it was recorded from, or delete " + state + " to start over from this one");
  }
  SECTION("a file the fixture includes changed") {
    std::string copy = dir.path("eks.yaml");
    std::filesystem::copy_file(kEksFixture, copy);
    write_file(dir.path("eks-demo-workloads.yaml"),
               read_file("examples/clusters/eks-demo-workloads.yaml") +
                   "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: default\n");
    CHECK(rebuild_error(copy, state) ==
          state + ": fixture " + kEksFixture + " now builds another world than the one this file started from (a file "
          "the fixture includes changed, or refit's models did: the file was written by refit " +
              header["refit"].get<std::string>() + ", this is refit " + header["refit"].get<std::string>() +
              "): run with the files it was recorded from, or delete " + state + " to start over");
  }
  SECTION("another format") {
    Json other = header;
    other["refit_sim_state"] = 2;
    write_file(state, other.dump() + "\n");
    CHECK(rebuild_error(kEksFixture, state) ==
          state + ": it is in sim-state format 2, and this refit reads format 1: delete it to start over from the "
                  "fixture");
  }
  SECTION("not a kept world at all") {
    write_file(state, "clusters: {}\n");
    CHECK(rebuild_error(kEksFixture, state) ==
          state + ":1: not a kept simulated world (its first line is not a refit sim-state header): give another file "
                  "to --sim-state, or delete this one to start over");
  }
  SECTION("a damaged line in the middle") {
    std::vector<std::string> damaged = lines;
    damaged[4] = "{\"write\":\"create\",\"cluster\":\"demo\"";
    write_file(state, joined(damaged, damaged.size()));
    CHECK(rebuild_error(kEksFixture, state) ==
          state + ":5: not an input refit recorded (it is not JSON): the file was damaged or changed by hand; keep only "
                  "the lines before this one to restore the world as it was then, or delete " + state +
              " to start over from the fixture");
    damaged[4] = "{\"teleport\":true}";
    write_file(state, joined(damaged, damaged.size()));
    CHECK(rebuild_error(kEksFixture, state) ==
          state + ":5: not an input refit recorded (it is neither a write, a command nor a clock advance): the file "
                  "was damaged or changed by hand; keep only the lines before this one to restore the world as it was "
                  "then, or delete " + state + " to start over from the fixture");
  }
  SECTION("a command's outcome that comes out otherwise") {
    std::size_t n = 1;
    while (n < lines.size() && lines[n].find("\"exec\"") == std::string::npos) ++n;
    REQUIRE(n < lines.size());
    std::vector<std::string> changed = lines;
    Json record = Json::parse(lines[n]);
    REQUIRE(record["code"] == 0);
    record["code"] = 3;
    changed[n] = record.dump();
    write_file(state, joined(changed, changed.size()));
    CHECK(rebuild_error(kEksFixture, state) ==
          state + ":" + std::to_string(n + 1) + ": replaying command aws eks describe-cluster --name demo --output " +
              "json: it exited 3 when recorded, and exited 0 now. The fixture, the scenario or refit changed since the " +
              "file was written (by refit " + header["refit"].get<std::string>() + "): run with those it was written " +
              "with, or delete " + state + " to start over");
  }
}

TEST_CASE("a write whose outcome comes out otherwise on replay stops the replay at its line", "[sim-state]") {
  TempDir dir;
  std::string state = dir.path("world.jsonl");
  auto options = apply_options("tests/scripts/playbooks/secrets.lua", kMinimalFixture, state, {"token=t0ken"});
  refit::run::run_session(options, {});
  std::vector<std::string> lines = lines_of(read_file(state));
  std::size_t n = 1;
  // The playbook's create (the run's Lease is created before it).
  while (n < lines.size() && (lines[n].find("\"write\":\"create\"") == std::string::npos ||
                              lines[n].find("\"kind\":\"Secret\"") == std::string::npos)) {
    ++n;
  }
  REQUIRE(n < lines.size());
  Json record = Json::parse(lines[n]);
  std::string rv = record["rv"];
  record["rv"] = "999999";
  lines[n] = record.dump();
  write_file(state, joined(lines, lines.size()));
  std::string error;
  try {
    rebuild(kMinimalFixture, state, 1, {{"token", "t0ken"}});
  } catch (const StateError& e) {
    error = e.what();
  }
  CHECK(error == state + ":" + std::to_string(n + 1) + ": replaying create Secret default/api in cluster test: it " +
                     "succeeded (resourceVersion 999999) when recorded, and succeeded (resourceVersion " + rv + ") now. " +
                     "The fixture, the scenario or refit changed since the file was written (by refit " +
                     Json::parse(lines[0])["refit"].get<std::string>() + "): run with those it was written with, or " +
                     "delete " + state + " to start over");
}

TEST_CASE("a write through a handle from ctx:connect is kept too", "[sim-state]") {
  TempDir dir;
  std::string state = dir.path("world.jsonl");
  const std::string fixture = "tests/scripts/fixtures/two-clusters.yaml";
  auto options =
      apply_options("tests/scripts/playbooks/host_extras.lua", fixture, state, {"path=" + dir.path("out.yaml")});
  WaitTracker events;
  refit::run::run_session(options, {&events});
  REQUIRE(events.status == "succeeded");
  bool kept = false;
  for (const auto& line : lines_of(read_file(state))) {
    Json record = Json::parse(line);
    if (record.value("write", "") == "merge_patch" && record["cluster"] == "edge") kept = true;
  }
  CHECK(kept);
  Json world = rebuild(fixture, state).world;
  Json settings;
  for (const auto& object : world["clusters"]["edge"]["objects"]["core/ConfigMap"]) {
    if (object["metadata"]["name"] == "settings") settings = object;
  }
  CHECK(settings["data"]["mode"] == "new");
}

TEST_CASE("secret parameters' values never reach the file; a replay puts back the values given", "[sim-state]") {
  TempDir dir;
  const std::string token = "s3cr3t-t0ken-value";
  std::string state = dir.path("world.jsonl");
  auto options = apply_options("tests/scripts/playbooks/secrets.lua", kMinimalFixture, state, {"token=" + token});
  refit::run::run_session(options, {});
  std::string text = read_file(state);
  CHECK(text.find(token) == std::string::npos);
  CHECK(text.find("czNjcjN0LXQwa2VuLXZhbHVl") == std::string::npos);  // base64 of the token
  CHECK(text.find("${refit-secret:token}") != std::string::npos);

  Json world = rebuild(kMinimalFixture, state, 1, {{"token", token}}).world;
  CHECK(world["clusters"]["test"]["objects"].dump().find("rotated-" + token) != std::string::npos);

  std::vector<std::string> lines = lines_of(text);
  std::size_t first_secret = 0;
  while (first_secret < lines.size() && lines[first_secret].find("${refit-secret") == std::string::npos) ++first_secret;
  REQUIRE(first_secret < lines.size());
  CHECK(rebuild_error(kMinimalFixture, state) ==
        state + ":" + std::to_string(first_secret + 1) + ": this input holds the value of secret parameter token, " +
            "which this run was not given: pass --set token=... with the value the world was recorded with");

  // A replay that comes out otherwise names the command as the file holds it: with the marker.
  std::size_t command = 0;
  while (command < lines.size() && lines[command].find("\"sts\"") == std::string::npos) ++command;
  REQUIRE(command < lines.size());
  Json record = Json::parse(lines[command]);
  record["code"] = 9;
  lines[command] = record.dump();
  write_file(state, joined(lines, lines.size()));
  std::string error;
  try {
    rebuild(kMinimalFixture, state, 1, {{"token", token}});
  } catch (const StateError& e) {
    error = e.what();
  }
  CHECK(error.find(std::to_string(command + 1) + ": replaying command aws sts get-caller-identity --token "
                   "'${refit-secret:token}': it exited 9 when recorded, and exited ") != std::string::npos);
  CHECK(error.find(token) == std::string::npos);
}

TEST_CASE("secret markers hide every value and its base64 form, and put them back", "[sim-state]") {
  refit::run::simstate::SecretMarkers markers({{"token", "abc"}, {"long", "xabcx"}, {"empty", ""}});
  Json value = {{"plain", "1abc2"}, {"b64", "YWJj"}, {"nested", {"xabcx", "abcabc"}}, {"abc", 3}};
  Json hidden = value;
  markers.hide(hidden);
  CHECK(hidden == Json{{"plain", "1${refit-secret:token}2"},
                       {"b64", "${refit-secret-base64:token}"},
                       {"nested", {"${refit-secret:long}", "${refit-secret:token}${refit-secret:token}"}},
                       {"${refit-secret:token}", 3}});
  Json back = hidden;
  CHECK_FALSE(markers.reveal(back).has_value());
  CHECK(back == value);

  refit::run::simstate::SecretMarkers none;
  Json untouched = hidden;
  CHECK(none.reveal(untouched) == std::optional<std::string>("token"));
  CHECK(untouched == hidden);
}
