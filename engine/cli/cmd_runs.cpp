// refit runs: the journaled runs of the state directory, newest first (docs/durable-runs.md).
#include <algorithm>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/common.hpp"
#include "data/json_fields.hpp"
#include "run/journal_reader.hpp"

namespace refit::cli {

using data::string_member;

namespace {

using Json = nlohmann::json;

struct RunsOptions {
  std::optional<std::string> state_dir;
  std::string output = "text";
};

// What a run ran against: "sim:<fixture file>", or the target clusters' contexts.
std::vector<std::string> targets_of(const Json& started) {
  if (string_member(started, "world") == "sim") {
    std::string fixture = string_member(started, "fixture");
    return {"sim:" + fixture.substr(fixture.find_last_of('/') + 1)};
  }
  std::vector<std::string> out;
  auto targets = started.find("targets");
  if (targets == started.end() || !targets->is_array()) return out;
  for (const auto& t : *targets) {
    // "name: context CONTEXT (server)" -> CONTEXT
    std::string text = t.is_string() ? t.get<std::string>() : t.dump();
    const std::string marker = ": context ";
    auto at = text.find(marker);
    auto paren = text.rfind(" (");
    if (at != std::string::npos && paren != std::string::npos && paren > at) {
      text = text.substr(at + marker.size(), paren - at - marker.size());
    }
    out.push_back(text);
  }
  return out;
}

// "2026-11-21T10:15:02.123Z" -> "2026-11-21 10:15:02Z"
std::string started_text(const std::string& wall) {
  if (wall.size() < 19) return wall;
  std::string out = wall.substr(0, 19) + "Z";
  out[10] = ' ';
  return out;
}

Json describe(const run::journal::RunHistory& h) {
  const Json& first = h.first_started();
  Json sessions = Json::array();
  for (const auto& s : h.sessions) {
    sessions.push_back({{"mode", s.mode},
                        {"started", string_member(s.started, "wall")},
                        {"status", s.finished ? string_member(*s.finished, "status") : std::string()}});
  }
  return {{"id", h.id},
          {"playbook", string_member(first, "playbook")},
          {"targets", targets_of(first)},
          {"status", h.status()},
          {"started", string_member(first, "wall")},
          {"last_step", h.last_step},
          {"changed", h.changed},
          {"sessions", sessions},
          {"journal", h.path}};
}

void print_table(const std::vector<Json>& runs) {
  std::vector<std::vector<std::string>> rows = {{"ID", "PLAYBOOK", "TARGETS", "STATUS", "STARTED", "LAST STEP"}};
  for (const auto& r : runs) {
    std::string targets;
    for (const auto& t : r["targets"]) targets += (targets.empty() ? "" : ",") + t.get<std::string>();
    rows.push_back({r["id"], r["playbook"], targets, r["status"], started_text(r["started"]), r["last_step"]});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << '\n';
  }
}

}  // namespace

void add_runs(CLI::App& app, GlobalOptions&, Command& command) {
  auto opts = std::make_shared<RunsOptions>();
  auto* sub = app.add_subcommand("runs", "list the journaled runs, newest first: their status and last step");
  add_state_dir_option(sub, opts->state_dir);
  sub->add_option("-o,--output", opts->output, "text (a table), or json (a list)")->check(CLI::IsMember({"text", "json"}));
  sub->callback([&command, opts] {
    command.run = [opts] {
      std::string dir;
      try {
        dir = run::journal::state_dir(opts->state_dir);
      } catch (const run::journal::JournalError& e) {
        print_error(e.what());
        return 1;
      }
      std::vector<std::string> ids = run::journal::run_ids(dir);
      std::reverse(ids.begin(), ids.end());
      std::vector<Json> runs;
      int damaged = 0;
      for (const auto& id : ids) {
        try {
          runs.push_back(describe(run::journal::read_history(run::journal::journal_path(dir, id), id)));
        } catch (const run::journal::JournalError& e) {
          print_error(e.what());
          ++damaged;
        }
      }
      if (opts->output == "json") {
        std::cout << Json(runs).dump(2) << '\n';
      } else if (runs.empty() && damaged == 0) {
        std::cout << "No runs in " << run::journal::runs_dir(dir) << ".\n";
      } else {
        print_table(runs);
      }
      return damaged > 0 ? 1 : 0;
    };
  });
}

}  // namespace refit::cli
