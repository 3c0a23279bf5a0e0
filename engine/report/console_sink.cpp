#include "report/console_sink.hpp"

#include <cctype>
#include <map>

#include <fmt/format.h>

#include "exec/executor.hpp"
#include "report/duration_text.hpp"

namespace refit::report {

namespace {

constexpr const char* kGreen = "32";
constexpr const char* kYellow = "33";
constexpr const char* kRed = "31";
constexpr const char* kDim = "2";
constexpr const char* kBold = "1";

constexpr int kNameWidth = 40;

std::string str(const run::EventFields& f, const char* key) {
  auto it = f.find(key);
  if (it == f.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::int64_t num(const run::EventFields& f, const char* key) {
  auto it = f.find(key);
  return it != f.end() && it->is_number() ? it->get<std::int64_t>() : 0;
}

bool flag(const run::EventFields& f, const char* key) {
  auto it = f.find(key);
  return it != f.end() && it->is_boolean() && it->get<bool>();
}

std::string object_text(const run::EventFields& f) {
  std::string ns = str(f, "namespace");
  return fmt::format("{} {}{}", str(f, "kind"), ns.empty() ? "" : ns + "/", str(f, "name"));
}

// Multi-line messages keep their indentation under the first line.
std::string indent_rest(const std::string& text, const std::string& indent) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out += indent;
  }
  return out;
}

// Ends the text with a full stop unless it already ends a sentence.
std::string sentence(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (!s.empty() && s.back() != '.' && s.back() != '!' && s.back() != '?') s += '.';
  return s;
}

std::string capitalized(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

}  // namespace

std::string ConsoleSink::paint(const std::string& text, const char* code) const {
  if (!options_.color) return text;
  return fmt::format("\033[{}m{}\033[0m", code, text);
}

void ConsoleSink::section(const std::string& title, const std::string& columns) {
  if (section_ == title) return;
  section_ = title;
  out_ << '\n' << paint(title, kBold);
  if (!columns.empty()) out_ << std::string(title.size() < 47 ? 47 - title.size() : 1, ' ') << paint(columns, kDim);
  out_ << '\n';
}

void ConsoleSink::flush_details() {
  for (const auto& line : details_) out_ << "        " << indent_rest(line, "          ") << '\n';
  details_.clear();
  file_group_.reset();
}

void ConsoleSink::add_file_line(const std::string& path, bool written, std::int64_t bytes) {
  const char* verb = written ? "> wrote" : "> would write";
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  bool continues = !options_.verbose && file_group_ && file_group_->dir == dir && file_group_->written == written &&
                   file_group_->line + 1 == details_.size();
  if (!continues) {
    file_group_ = FileGroup{dir, written, 1, bytes, details_.size()};
    details_.push_back(fmt::format("{} {} ({} bytes)", verb, path, bytes));
    return;
  }
  file_group_->files += 1;
  file_group_->bytes += bytes;
  details_.back() = fmt::format("{} {} files to {} ({} bytes)", verb, file_group_->files, dir, file_group_->bytes);
}

// What a step did, listed under it.
void ConsoleSink::detail(const run::Event& e) {
  const auto& f = e.fields;
  const std::string& n = e.name;
  if (n == "mutation") {
    static const std::map<std::string, std::string> sign = {
        {"create", "+"}, {"apply", "="}, {"replace", "="}, {"patch", "~"},
        {"patch_status", "~"}, {"delete", "-"}, {"evict", "-"}};
    std::string verb = str(f, "verb");
    std::string cluster = str(f, "cluster");
    details_.push_back(paint(fmt::format("{} {} {}  ({})", sign.count(verb) ? sign.at(verb) : "?", verb,
                                         object_text(f), cluster), kDim));
  } else if (n == "command") {
    // What preflight checks read is detail for -v; what steps run, and anything that mutates, is not.
    bool mutates = flag(f, "mutates");
    if (e.phase == "check" && !mutates && !options_.verbose) return;
    std::vector<std::string> argv = f.at("argv").get<std::vector<std::string>>();
    std::string line = "$ " + exec::display_command(argv);
    if (num(f, "code") != 0) line += fmt::format("   -> exit {}", num(f, "code"));
    details_.push_back(mutates ? line : paint(line, kDim));
  } else if (n == "wait_finished") {
    std::int64_t count = num(f, "polls");
    std::string polls = count > 0 ? fmt::format(", {} poll{}", count, count == 1 ? "" : "s") : "";
    if (flag(f, "ok")) {
      details_.push_back(paint(fmt::format("waited {} for {}{}", duration_text(num(f, "waited")), str(f, "what"), polls), kDim));
    } else {
      std::string reason = str(f, "reason");
      details_.push_back(paint(fmt::format("gave up waiting for {} after {}{}{}", str(f, "what"),
                                           duration_text(num(f, "waited")), polls,
                                           reason.empty() ? "" : ": " + reason), kYellow));
    }
  } else if (n == "log") {
    std::string level = str(f, "level");
    if (level == "warn") details_.push_back(paint("warning: " + str(f, "message"), kYellow));
    else if (level == "info") details_.push_back(str(f, "message"));
    else if (options_.verbose) details_.push_back(paint(str(f, "message"), kDim));
  } else if (n == "file_written") {
    // plan records what apply would write: the operator sees where a backup will land
    add_file_line(str(f, "path"), flag(f, "written"), num(f, "bytes"));
  } else if (n == "state_set") {
    if (options_.verbose) details_.push_back(paint(fmt::format("state {} = {}", str(f, "key"), f.at("value").dump()), kDim));
  } else if (n == "phase_failed") {
    last_phase_error_ = str(f, "error");
    details_.push_back(paint(fmt::format("{} failed (attempt {}): {}", e.phase, num(f, "attempt"), str(f, "error")), kRed));
    if (options_.verbose && !str(f, "traceback").empty()) details_.push_back(paint(str(f, "traceback"), kDim));
  } else if (n == "world_log") {
    if (options_.verbose) details_.push_back(paint("world: " + str(f, "message"), kDim));
  } else if (n == "retry") {
    details_.push_back(paint(fmt::format("retrying in {} (attempt {})", duration_text(num(f, "delay")), num(f, "attempt")), kYellow));
  } else if (n == "step_expanded") {
    // The expanded steps appear one by one; nothing to add.
  }
}

void ConsoleSink::on_event(const run::Event& e) {
  const auto& f = e.fields;
  const std::string& n = e.name;

  if (n == "run_started") {
    mode_ = str(f, "mode");
    std::string where = str(f, "world") == "sim" ? fmt::format("simulated world {}", str(f, "fixture")) : str(f, "world");
    std::string scenario = str(f, "scenario");
    out_ << paint(fmt::format("refit {} {}", mode_, str(f, "playbook")), kBold) << "  " << where;
    if (!scenario.empty()) out_ << ", scenario " << scenario;
    out_ << ", seed " << str(f, "seed") << '\n';
    auto params = f.find("params_text");
    if (params != f.end() && params->is_object() && !params->empty()) {
      std::string line;
      for (const auto& [k, v] : params->items()) {
        std::string text = v.is_string() ? v.get<std::string>() : v.dump();
        bool plain = !text.empty() && text.find(' ') == std::string::npos;
        line += fmt::format("  {}={}", k, plain ? text : nlohmann::json(text).dump());
      }
      out_ << paint("params:" + line, kDim) << '\n';
    }
    // The id to resume or roll the run back by, should it stop.
    std::string run_id = str(f, "run_id");
    if (!run_id.empty()) out_ << paint("run " + run_id, kDim) << '\n';
    return;
  }
  if (n == "run_resumed") {
    std::string from = str(f, "from_step");
    out_ << '\n' << (from.empty() ? std::string("Resuming: every step had finished") : "Resuming at step " + from)
         << (flag(f, "preflight") ? "" : "; the preflight checks passed before and do not run again") << ".\n";
    return;
  }
  if (n == "run_interrupted") {
    flush_details();
    return;  // run_finished says what happened and how to go on
  }
  if (n == "check_started") {
    section("Preflight checks");
    details_.clear();
    file_group_.reset();
    return;
  }
  if (n == "check_passed" || n == "check_failed") {
    bool ok = n == "check_passed";
    out_ << "  " << (ok ? paint("✓", kGreen) : paint("✗", kRed)) << ' ' << str(f, "check") << '\n';
    if (!ok) details_.push_back(paint(str(f, "error"), kRed));
    if (!ok && options_.verbose && !str(f, "traceback").empty()) details_.push_back(paint(str(f, "traceback"), kDim));
    flush_details();
    return;
  }
  if (n == "step_started") {
    section("Steps", "result        start     took");
    step_index_ = static_cast<int>(num(f, "index"));
    step_started_ = e.time;
    details_.clear();
    file_group_.reset();
    last_phase_error_.clear();
    return;
  }
  if (n == "step_skipped" || n == "step_finished") {
    if (n == "step_skipped" && f.contains("index")) {
      // A resume passes over a step finished before: it has its number, and no step_started.
      section("Steps", "result        start     took");
      step_index_ = static_cast<int>(num(f, "index"));
      details_.clear();
      file_group_.reset();
    }
    std::string result;
    std::string took;
    std::string reason = str(f, "reason");
    if (n == "step_skipped") {
      result = reason == "completed" ? paint("finished  ", kDim)
                                     : paint(reason == "done" ? "done      " : "skipped   ", kYellow);
    } else if (str(f, "status") == "succeeded") {
      result = paint(flag(f, "changed") ? "changed   " : "ok        ", kGreen);
      took = duration_text(num(f, "duration"));
    } else {
      result = paint("FAILED    ", kRed);
      took = duration_text(num(f, "duration"));
      if (str(f, "error") != last_phase_error_) details_.push_back(paint(str(f, "error"), kRed));
    }
    const std::string& name = e.step;
    // A name too long for its column gets a line of its own, so the columns stay aligned.
    std::string padded = name.size() < kNameWidth ? name + std::string(kNameWidth - name.size(), ' ')
                                                  : name + "\n" + std::string(kNameWidth + 7, ' ');
    std::string start = n == "step_skipped" ? "" : duration_text(step_started_);
    std::string note = n != "step_skipped"    ? ""
                       : reason == "completed" ? "before the interruption"
                       : reason == "done"      ? "already done"
                                               : "not applicable";
    out_ << fmt::format("  {:>3}  {}{}{:>8}  {:>7}", step_index_, padded, result, start, took);
    if (!note.empty()) out_ << "  " << paint(note, kDim);
    out_ << '\n';
    flush_details();
    return;
  }
  if (n == "rollback_started") {
    flush_details();
    section("Rollback");
    std::string failed = str(f, "failed_step");
    std::string what = !flag(f, "requested") ? fmt::format("step {} failed: undoing in reverse order", failed)
                       : failed.empty()      ? std::string("undoing the run's steps in reverse order")
                                             : fmt::format("undoing the run in reverse order, from step {}", failed);
    out_ << "  " << paint(what, kYellow) << '\n';
    return;
  }
  if (n == "step_rolled_back") {
    std::string status = str(f, "status");
    std::string text = status == "succeeded" ? paint("rolled back", kGreen)
                     : status == "none"      ? paint("no rollback: its changes remain", kRed)
                                             : paint("rollback failed: " + str(f, "error"), kRed);
    out_ << "  ↺ " << e.step << "  " << text << '\n';
    flush_details();
    return;
  }
  if (n == "irreversible_reached") {
    out_ << "  " << paint("⛔ " + e.step + " is irreversible; rollback stops here. Recovery:", kRed) << '\n';
    out_ << "      " << indent_rest(str(f, "recovery"), "      ") << '\n';
    flush_details();
    return;
  }
  if (n == "cleanup_finished") {
    section("Cleanup");
    bool ok = str(f, "status") == "succeeded";
    out_ << "  " << (ok ? paint("✓", kGreen) : paint("✗", kRed)) << ' ' << e.step;
    if (!ok) out_ << "  " << paint(str(f, "error"), kRed);
    out_ << '\n';
    flush_details();
    return;
  }
  if (n == "run_finished") {
    flush_details();
    std::string status = str(f, "status");
    const char* colour = status == "succeeded" ? kGreen : status == "failed" ? kRed : kYellow;
    std::string what = mode_ == "plan" ? "Plan" : capitalized(mode_);
    std::string took = duration_text(num(f, "duration"));
    out_ << '\n'
         << paint(fmt::format("{} {} (exit {})", what, status, num(f, "exit_code")), colour) << ": "
         << sentence(str(f, "message")) << '\n';
    out_ << (mode_ == "plan" ? fmt::format("Estimated duration {}; ", took) : fmt::format("Took {}; ", took))
         << (flag(f, "changed") ? "the world was changed." : "nothing was changed.") << '\n';
    return;
  }
  detail(e);
}

}  // namespace refit::report
