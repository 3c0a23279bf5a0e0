#include "run/journal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <regex>

#include <fmt/format.h>

#include "run/interrupt.hpp"
#include "run/utc_time.hpp"

namespace refit::run::journal {

namespace fs = std::filesystem;

std::string state_dir(const std::optional<std::string>& given) {
  if (given && !given->empty()) return *given;
  const char* xdg = std::getenv("XDG_STATE_HOME");
  if (xdg != nullptr && *xdg == '/') return std::string(xdg) + "/refit";  // the spec ignores relative ones
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    throw JournalError("refit keeps its run journals in $XDG_STATE_HOME/refit or $HOME/.local/state/refit, but "
                       "neither XDG_STATE_HOME nor HOME is set: pass --state-dir DIR");
  }
  return std::string(home) + "/.local/state/refit";
}

std::string runs_dir(const std::string& dir) { return dir + "/runs"; }

std::string journal_path(const std::string& dir, const std::string& run_id) {
  return runs_dir(dir) + "/" + run_id + ".jsonl";
}

namespace {

// Creates `dir` and the missing directories above it, each 0700: journals say what was done to
// which clusters, which is the user's business alone.
void make_private_dirs(const fs::path& dir) {
  std::vector<fs::path> missing;
  std::error_code ec;
  for (auto d = dir; !d.empty() && !fs::is_directory(d, ec); d = d.parent_path()) {
    missing.push_back(d);
    if (d == d.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      throw JournalError(fmt::format("cannot create the state directory {}: {} (choose another with --state-dir DIR)",
                                     it->string(), std::strerror(errno)));
    }
  }
}

bool is_id_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-'; }

}  // namespace

std::string new_run_id() {
  std::random_device random;
  std::uniform_int_distribution<unsigned> hex(0, 0xffffff);
  return fmt::format("{}-{:06x}", utc_compact_text(wall_clock_ms()), hex(random));
}

bool looks_like_run_id(const std::string& text) {
  static const std::regex shape("[0-9]{8}(-([0-9]{1,6}(-[0-9a-f]{0,6})?)?)?");
  return std::regex_match(text, shape);
}

std::vector<std::string> run_ids(const std::string& dir) {
  std::vector<std::string> ids;
  std::error_code ec;
  fs::directory_iterator it(runs_dir(dir), ec);
  if (ec) return ids;
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (name.size() > 6 && name.compare(name.size() - 6, 6, ".jsonl") == 0) ids.push_back(name.substr(0, name.size() - 6));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string find_run(const std::string& dir, const std::string& prefix) {
  if (prefix.empty() || !std::all_of(prefix.begin(), prefix.end(), is_id_char)) {
    throw JournalError(fmt::format("\"{}\" is not a run id (they look like 20261121-101502-3fa9c1; refit runs lists "
                                   "them)", prefix));
  }
  std::vector<std::string> matches;
  for (auto& id : run_ids(dir))
    if (id.rfind(prefix, 0) == 0) matches.push_back(id);
  if (matches.size() == 1) return matches[0];
  if (matches.empty()) {
    throw JournalError(fmt::format("no run {} in {} (refit runs lists the runs there; --state-dir DIR reads another "
                                   "state directory)", prefix, runs_dir(dir)));
  }
  std::string list;
  for (std::size_t i = 0; i < matches.size() && i < 5; ++i) list += (i ? ", " : "") + matches[i];
  if (matches.size() > 5) list += fmt::format(" and {} more", matches.size() - 5);
  throw JournalError(fmt::format("run id {} is ambiguous: it begins {} runs ({}): give more of it", prefix,
                                 matches.size(), list));
}

std::string wall_time_now() { return utc_millis_text(wall_clock_ms()); }


namespace {

std::vector<std::int64_t> positive_list(const char* name) {
  std::vector<std::int64_t> out;
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return out;
  std::string s = text;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(start, end - start);
    char* stop = nullptr;
    long long v = std::strtoll(item.c_str(), &stop, 10);
    if (item.empty() || *stop != '\0' || v <= 0) {
      throw JournalError(fmt::format("{}={}: expected journal line numbers (positive integers, separated by commas)",
                                     name, s));
    }
    out.push_back(v);
    start = end + 1;
  }
  return out;
}

}  // namespace

TestHooks test_hooks_from_environment() {
  TestHooks hooks;
  auto kill = positive_list("REFIT_TEST_KILL_AFTER_EVENT");
  if (kill.size() > 1) throw JournalError("REFIT_TEST_KILL_AFTER_EVENT: one journal line number: a killed run ends there");
  if (!kill.empty()) hooks.kill_after = kill[0];
  hooks.interrupt_after = positive_list("REFIT_TEST_INTERRUPT_AFTER_EVENT");
  return hooks;
}

JournalSink::JournalSink(const std::string& path, EventFields session_fields, TestHooks hooks)
    : path_(path), session_fields_(std::move(session_fields)), hooks_(std::move(hooks)) {
  make_private_dirs(fs::path(path).parent_path());
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    throw JournalError(fmt::format("cannot open the run journal {}: {} (choose another state directory with "
                                   "--state-dir DIR)", path, std::strerror(errno)));
  }
  // A session that was killed mid-line left that line without its newline: end it, so that this
  // session's first record starts a line of its own (the reader drops the torn one).
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_size > 0) {
    char last = '\n';
    int reader = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (reader >= 0) {
      if (::pread(reader, &last, 1, st.st_size - 1) != 1) last = '\n';
      ::close(reader);
    }
    if (last != '\n' && (::write(fd_, "\n", 1) != 1 || ::fdatasync(fd_) != 0)) {
      throw JournalError(fmt::format("cannot append to the run journal {}: {}", path, std::strerror(errno)));
    }
  }
}

JournalSink::~JournalSink() {
  if (fd_ >= 0) ::close(fd_);
}

void JournalSink::write_line(const std::string& line) {
  if (failure_) return;
  // One write per line (O_APPEND): a crash leaves at most the last line torn, which the reader drops.
  std::size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      failure_ = fmt::format("writing the run journal {} failed: {}", path_, std::strerror(errno));
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (!failure_ && ::fdatasync(fd_) != 0) {
    failure_ = fmt::format("syncing the run journal {} failed: {}", path_, std::strerror(errno));
  }
  if (failure_) {
    // The run stops before its next call: what it would do next could not be accounted for.
    interrupt::request(0, "the run journal could not be written");
    return;
  }
  ++lines_;
  if (hooks_.kill_after && lines_ == *hooks_.kill_after) ::raise(SIGKILL);
  if (std::find(hooks_.interrupt_after.begin(), hooks_.interrupt_after.end(), lines_) != hooks_.interrupt_after.end()) {
    if (hooks_.raise_signal) ::raise(SIGINT);
    else interrupt::request(SIGINT);
  }
}

void JournalSink::on_event(const Event& event) {
  // The line -o json writes (event, time, step and phase first), with what only the journal needs.
  std::string line = event.to_json_line();
  line.pop_back();  // its closing brace
  if (event.name == "run_started") {
    for (auto& [key, value] : session_fields_.items()) {
      line += fmt::format(",{}:{}", nlohmann::json(key).dump(),
                          value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }
  line += ",\"wall\":\"" + wall_time_now() + "\"}\n";
  if (!started_ && event.name != "run_started") {
    held_.push_back(std::move(line));
    return;
  }
  write_line(line);
  if (!started_) {
    started_ = true;
    for (const auto& held : held_) write_line(held);
    held_.clear();
  }
}

}  // namespace refit::run::journal
