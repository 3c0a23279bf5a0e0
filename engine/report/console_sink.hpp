// The report people read: the plan or run as it happens, one aligned line per step with its
// outcome, start and duration, and under it what the step did (mutations, commands, waits).
#pragma once
#include <chrono>
#include <ostream>
#include <optional>
#include <string>
#include <vector>

#include "run/event.hpp"

namespace refit::report {

struct ConsoleOptions {
  bool color = false;     // only on a TTY, and never with NO_COLOR
  bool verbose = false;   // debug logs, state changes, commands run by checks, tracebacks
};

class ConsoleSink final : public run::EventSink {
 public:
  ConsoleSink(std::ostream& out, ConsoleOptions options) : out_(out), options_(options) {}
  void on_event(const run::Event& event) override;

 private:
  std::string paint(const std::string& text, const char* code) const;
  void detail(const run::Event& event);
  void flush_details();
  void section(const std::string& title, const std::string& columns = "");

  std::ostream& out_;
  ConsoleOptions options_;
  std::string mode_ = "plan";
  std::string section_;
  std::vector<std::string> details_;   // lines under the step being reported
  std::string last_phase_error_;       // so a step's final error is not printed twice
  // Files written in a row to one directory make one line (a backup of 28 CRDs is one line, not 28;
  // -v lists them): the group's directory, what it says so far, and which line it is.
  struct FileGroup {
    std::string dir;
    bool written = false;
    std::int64_t files = 0, bytes = 0;
    std::size_t line = 0;
  };
  std::optional<FileGroup> file_group_;
  void add_file_line(const std::string& path, bool written, std::int64_t bytes);
  int step_index_ = 0;
  std::int64_t step_started_ = 0;
};

class JsonLinesSink final : public run::EventSink {
 public:
  explicit JsonLinesSink(std::ostream& out) : out_(out) {}
  void on_event(const run::Event& event) override;

 private:
  std::ostream& out_;
  std::chrono::steady_clock::time_point last_flush_ = std::chrono::steady_clock::now();
};

}  // namespace refit::report
