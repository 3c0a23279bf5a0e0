#include "data/json_fields.hpp"
#include "run/journal_reader.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace refit::run::journal {

using data::string_member;

namespace {

using Json = nlohmann::json;

bool flag_of(const Json& record, const char* key) {
  auto it = record.find(key);
  return it != record.end() && it->is_boolean() && it->get<bool>();
}

bool is_run_started(std::string_view line) {
  try {
    Json record = Json::parse(line);
    return record.is_object() && string_member(record, "event") == "run_started";
  } catch (const Json::exception&) {
    return false;
  }
}

class Builder {
 public:
  explicit Builder(RunHistory& history) : h_(history) {}

  void add(const Json& r) {
    const std::string event = string_member(r, "event");
    const std::string step = string_member(r, "step");
    const std::string phase = string_member(r, "phase");
    if (event == "run_started") {
      Session s;
      s.mode = string_member(r, "mode");
      s.started = r;
      h_.sessions.push_back(std::move(s));
    }
    if (h_.sessions.empty()) return;  // nothing of a run comes before its run_started
    Session& session = h_.sessions.back();
    session.last_wall = string_member(r, "wall");
    if (event == "run_finished") {
      session.finished = r;
      session.locked_out = flag_of(r, "locked");
      if (flag_of(r, "changed")) h_.changed = true;
    } else if (event == "rollback_started") {
      session.rolling_back = true;
    } else if (event == "preflight_finished") {
      if (flag_of(r, "ok")) h_.preflight_passed = true;
    } else if (event == "state_set") {
      std::string key = string_member(r, "key");
      auto value = r.find("value");
      if (!key.empty()) h_.state[key] = value != r.end() ? *value : Json();
    } else if (event == "step_expanded") {
      Expansion e;
      e.each = step;
      auto items = r.find("items");
      e.items = items != r.end() ? *items : Json();
      if (auto steps = r.find("steps"); steps != r.end() && steps->is_array())
        for (const auto& name : *steps)
          if (name.is_string()) e.steps.push_back(name.get<std::string>());
      for (auto& existing : h_.expansions) {
        if (existing.each == e.each) {
          existing = std::move(e);
          return;
        }
      }
      h_.expansions.push_back(std::move(e));
    } else if (event == "step_started") {
      StepRecord& s = record(step);
      s.started = true;
      s.finished = false;
      s.status.clear();
      s.skip_reason.clear();
      if (auto index = r.find("index"); index != r.end() && index->is_number_integer()) s.index = index->get<std::int64_t>();
      h_.last_step = step;
    } else if (event == "step_skipped") {
      StepRecord& s = record(step);
      std::string reason = string_member(r, "reason");
      if (reason == "completed") return;  // a resume passing over a step finished before: nothing new
      s.started = true;
      s.finished = true;
      s.status = "skipped";
      s.skip_reason = reason;
      if (flag_of(r, "completed")) {
        // done after an interruption: its run had begun, so it counts as done and changed
        s.completed = true;
        s.changed = true;
      }
      h_.last_step = step;
    } else if (event == "step_finished") {
      StepRecord& s = record(step);
      s.finished = true;
      s.status = string_member(r, "status");
      if (s.status == "succeeded") s.completed = true;
      if (flag_of(r, "changed")) s.changed = true;
      h_.last_step = step;
    } else if (event == "phase_started") {
      if (phase == "run") record(step).run_started = true;
    } else if (event == "mutation" || (event == "command" && flag_of(r, "changed"))) {
      h_.changed = true;
      if (!step.empty() && (phase == "run" || phase == "verify")) record(step).changed = true;
    } else if (event == "step_rolled_back") {
      if (string_member(r, "status") == "succeeded") record(step).rolled_back = true;
    } else if (event == "cleanup_finished") {
      record(step).cleaned_up = true;
    }
  }

 private:
  StepRecord& record(const std::string& name) {
    for (auto& s : h_.steps)
      if (s.name == name) return s;
    StepRecord s;
    s.name = name;
    h_.steps.push_back(std::move(s));
    return h_.steps.back();
  }

  RunHistory& h_;
};

}  // namespace

const StepRecord* RunHistory::step(const std::string& name) const {
  for (const auto& s : steps)
    if (s.name == name) return &s;
  return nullptr;
}

const Expansion* RunHistory::expansion(const std::string& each) const {
  for (const auto& e : expansions)
    if (e.each == each) return &e;
  return nullptr;
}

const StepRecord* RunHistory::interrupted_step() const {
  const StepRecord* found = nullptr;
  for (const auto& s : steps)
    if (s.started && !s.finished) found = &s;
  return found;
}

const StepRecord* RunHistory::last_incomplete_step() const {
  const StepRecord* found = nullptr;
  for (const auto& s : steps)
    if (s.started && !s.completed && (!s.finished || s.status == "failed")) found = &s;
  return found;
}

const Session* RunHistory::last_session() const {
  for (auto it = sessions.rbegin(); it != sessions.rend(); ++it)
    if (!it->locked_out) return &*it;
  return sessions.empty() ? nullptr : &sessions.back();
}

const nlohmann::json& RunHistory::first_started() const {
  static const nlohmann::json empty = nlohmann::json::object();
  return sessions.empty() ? empty : sessions.front().started;
}

std::string RunHistory::status() const {
  const Session* last = last_session();
  if (last == nullptr) return "interrupted";  // killed before its first record was whole
  if (last->finished) return string_member(*last->finished, "status");
  auto pid = last->started.find("pid");
  if (pid != last->started.end() && pid->is_number_integer() &&
      process_alive(string_member(last->started, "host"), pid->get<std::int64_t>())) {
    return "running";
  }
  return "interrupted";
}

bool RunHistory::stopped_rolling_back() const {
  const Session* last = last_session();
  if (last == nullptr || !last->rolling_back) return false;
  return !last->finished || string_member(*last->finished, "status") == "interrupted";
}

RunHistory parse_history(std::string_view text, const std::string& path, const std::string& id) {
  RunHistory history;
  history.id = id;
  history.path = path;
  Builder builder(history);
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty()) continue;
    Json record;
    try {
      record = Json::parse(line);
    } catch (const Json::exception&) {
    }
    if (record.is_object()) {
      builder.add(record);
      continue;
    }
    // A line cut short by a kill is the last of its session: the end of the file, or followed by
    // the next session's run_started.
    std::size_t next = i + 1;
    while (next < lines.size() && lines[next].empty()) ++next;
    if (next == lines.size()) {
      history.torn_tail = true;
      continue;
    }
    if (is_run_started(lines[next])) continue;
    throw JournalError(fmt::format("{}:{}: the journal is damaged: this line is not a JSON record (only a run's "
                                   "last line may be cut short); refit cannot tell what the run did after it",
                                   path, i + 1));
  }
  return history;
}

JournaledWorld journaled_world_of(const Json& world) {
  JournaledWorld out;
  if (world.contains("sim")) {
    out.fixture = string_member(world, "sim");
    out.sim_state = string_member(world, "sim_state");
    if (auto scenario = string_member(world, "scenario"); !scenario.empty()) out.scenario = scenario;
    if (world.contains("seed") && world["seed"].is_number_unsigned()) out.seed = world["seed"].get<std::uint64_t>();
  } else {
    out.kubeconfig = string_member(world, "kubeconfig");
    if (world.contains("inventory")) out.inventory = string_member(world, "inventory");
    else out.context = string_member(world, "context");
  }
  return out;
}

RunHistory read_history(const std::string& path, const std::string& id) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw JournalError(fmt::format("cannot read the run journal {}: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_history(text.str(), path, id);
}

std::string this_host() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

bool process_alive(const std::string& host, std::int64_t pid) {
  if (pid <= 0 || pid > INT_MAX || host != this_host()) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace refit::run::journal
