// refit resume RUN and refit rollback RUN: continue a journaled run from where it stopped, or undo
// what it did (docs/durable-runs.md). Both rebuild the run's session from its journal: the same
// playbook (unchanged, unless --force), parameters and world.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "data/json_fields.hpp"
#include "data/sha256.hpp"
#include "playbook/playbook.hpp"
#include "report/console_sink.hpp"
#include "run/journal_reader.hpp"
#include "run/session.hpp"

namespace refit::cli {

using data::string_member;

namespace {

using Json = nlohmann::json;
using run::journal::RunHistory;

struct ContinueOptions {
  std::string run;
  std::optional<std::string> state_dir;
  bool force = false;
  bool rerun_interrupted = false;
  bool yes = false;
  std::vector<std::string> sets;
  std::optional<std::string> values_file;
  std::string output = "text";
  std::int64_t lease_duration_s = 120;
  std::string save_world;
};

// A journaled run that this command will not continue: the message says why and what to do.
struct Refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string short_hash(const std::string& hash) { return hash.substr(0, 12); }

// The session that stands on the run's world again, with its playbook and parameters.
run::SessionOptions rebuild_session(const RunHistory& history, const ContinueOptions& opts, const char* verb) {
  const Json& started = history.last_session()->started;
  auto resume = started.find("resume");
  if (resume == started.end() || !resume->is_object()) {
    throw Refusal(fmt::format("the journal of run {} ({}) does not say how the run was started (no resume record): "
                              "it cannot be {}", history.id, history.path, verb));
  }
  run::SessionOptions session;
  session.playbook = string_member(*resume, "playbook");
  session.values = resume->value("values", Json::object());
  session.sets = opts.sets;
  session.values_file = opts.values_file;

  // Secret parameters are not journaled: they must be given again; the others are as the run had them.
  playbook::RawParams given;
  try {
    given = playbook::read_raw_params(opts.values_file, opts.sets);
  } catch (const playbook::LoadError& e) {
    throw Refusal(e.what());
  }
  std::vector<std::string> secret_names;
  if (auto secrets = resume->find("secret_params"); secrets != resume->end() && secrets->is_array())
    for (const auto& name : *secrets)
      if (name.is_string()) secret_names.push_back(name.get<std::string>());
  for (const auto& [name, value] : given.values) {
    if (std::find(secret_names.begin(), secret_names.end(), name) == secret_names.end()) {
      throw Refusal(fmt::format("run {} keeps the parameters it was started with: only its secret parameters are "
                                "given again{}, and {} is not one of them (a run {} with other parameters would not "
                                "be the run its journal describes)", history.id,
                                secret_names.empty() ? " (it has none)" : "", name, verb));
    }
  }
  std::vector<std::string> missing;
  for (const auto& name : secret_names)
    if (given.values.count(name) == 0) missing.push_back(name);
  if (!missing.empty()) {
    std::string names, sets;
    for (const auto& n : missing) {
      names += (names.empty() ? "" : ", ") + n;
      sets += fmt::format(" --set {}=...", n);
    }
    throw Refusal(fmt::format("run {} was given the secret parameter{} {}, which its journal does not keep: give {} "
                              "again (-f values.yaml, or{})", history.id, missing.size() == 1 ? "" : "s", names,
                              missing.size() == 1 ? "it" : "them", sets));
  }

  const run::journal::JournaledWorld world = run::journal::journaled_world_of(resume->value("world", Json::object()));
  if (!world.fixture.empty() && world.sim_state.empty()) {
    throw Refusal(fmt::format(
        "run {} ran in a simulated world that was not kept (--sim without --sim-state): that world is gone, so the "
        "run cannot be {}. To keep a simulated world, run refit apply {} --sim {} --sim-state FILE: the world is "
        "kept in FILE, and a stopped run can be resumed or rolled back in it",
        history.id, verb, session.playbook, world.fixture));
  }
  session.fixture = world.fixture;
  session.sim_state = world.sim_state;
  session.scenario = world.scenario;
  session.seed = world.seed;
  session.kubeconfig = world.kubeconfig;
  session.inventory = world.inventory;
  session.context = world.context;

  // The journal's steps are the playbook's as it was: another playbook may name other steps, or do
  // other things in them.
  std::string then = string_member(started, "playbook_sha256");
  std::string now;
  try {
    now = data::sha256_hex(playbook::find(session.playbook).content);
  } catch (const playbook::LoadError& e) {
    throw Refusal(fmt::format("run {}: {}", history.id, e.what()));
  }
  if (now != then && !opts.force) {
    throw Refusal(fmt::format(
        "the playbook {} changed since run {} ran (sha256 {} then, {} now): the journal's steps are those of the "
        "playbook as it was, and a changed one may name or do them differently. Put the playbook back as it was, or "
        "pass --force to go on with it as it is now", session.playbook, history.id, short_hash(then), short_hash(now)));
  }
  return session;
}

// Before changing real clusters: the run, its targets, and a typed "yes" (or --yes).
std::function<bool(const std::vector<std::string>&)> confirmation(const ContinueOptions& opts, const std::string& what,
                                                                  const std::string& command) {
  if (opts.yes) return {};
  return [what, command](const std::vector<std::string>& targets) {
    if (isatty(STDIN_FILENO) == 0 || isatty(STDERR_FILENO) == 0) {
      throw run::SetupError(fmt::format("refit {0} changes real clusters and asks first, but this is not a terminal: "
                                        "pass --yes to {0} without asking", command));
    }
    std::cerr << "\nrefit will " << what << " on:\n";
    for (const auto& t : targets) std::cerr << "  " << t << "\n";
    std::cerr << "Only 'yes' will be accepted to approve.\n" << static_cast<char>(std::toupper(command[0]))
              << command.substr(1) << "? ";
    std::string answer;
    std::getline(std::cin, answer);
    return answer == "yes";
  };
}

std::string still_running(const RunHistory& h) {
  const Json& started = h.last_session()->started;
  return fmt::format("run {} is still running (pid {} on this host): let it finish, or stop it (Ctrl-C where it runs, "
                     "or kill -INT {}) and try again", h.id, started.value("pid", 0), started.value("pid", 0));
}

// Why a finished run has nothing to resume, and what to do instead.
std::string finished_run(const RunHistory& h, const std::string& status) {
  if (status == "succeeded") return fmt::format("run {} succeeded: there is nothing to resume (refit apply starts a new run)", h.id);
  if (status == "precondition_failed") {
    return fmt::format("run {} stopped at a failed precondition and changed nothing: there is nothing to resume; fix "
                       "the cause and start a new run with refit apply", h.id);
  }
  if (status == "rolled_back") {
    return fmt::format("run {} {} rolled back: there is nothing to resume; start a new run with refit apply", h.id,
                       h.last_session()->mode == "rollback" ? "was" : "failed and was");
  }
  return fmt::format("run {} {} not fully rolled back: there is nothing to resume; refit rollback {} goes on with its "
                     "rollback (or see the recovery text it printed)", h.id,
                     h.last_session()->mode == "rollback" ? "was" : "failed and was", h.id);
}

struct Loaded {
  std::string dir;
  RunHistory history;
};

Loaded load(const ContinueOptions& opts) {
  Loaded out;
  out.dir = run::journal::state_dir(opts.state_dir);
  std::string id = run::journal::find_run(out.dir, opts.run);
  out.history = run::journal::read_history(run::journal::journal_path(out.dir, id), id);
  if (out.history.sessions.empty()) {
    throw Refusal(fmt::format("run {} stopped before its journal ({}) recorded anything: there is nothing to go on "
                              "from", id, out.history.path));
  }
  return out;
}

int continue_run(const GlobalOptions& global, const ContinueOptions& opts, const std::string& mode) {
  const bool rollback = mode == "rollback";
  Loaded loaded;
  run::SessionOptions session;
  try {
    loaded = load(opts);
    const RunHistory& h = loaded.history;
    std::string status = h.status();
    if (status == "running") throw Refusal(still_running(h));
    if (rollback) {
      if (status == "rolled_back") {
        std::cerr << fmt::format("refit: run {} was rolled back already: nothing to do\n", h.id);
        return 0;
      }
      if (status == "precondition_failed") {
        std::cerr << fmt::format("refit: run {} stopped at a failed precondition and changed nothing: nothing to roll "
                                 "back\n", h.id);
        return 0;
      }
      if (status == "succeeded" && !opts.force) {
        throw Refusal(fmt::format("run {} succeeded: rolling it back would undo a finished run (as far as its first "
                                  "irreversible step); pass --force to roll it back all the same", h.id));
      }
    } else {
      if (h.stopped_rolling_back()) {
        throw Refusal(fmt::format("run {} stopped while rolling back: finish the rollback with refit rollback {} "
                                  "(resuming would go on with what the rollback was undoing)", h.id, h.id));
      }
      if (status != "interrupted") throw Refusal(finished_run(h, status));
    }
    session = rebuild_session(h, opts, rollback ? "rolled back" : "resumed");
  } catch (const Refusal& e) {
    print_error(e.what());
    return 1;
  } catch (const run::journal::JournalError& e) {
    print_error(e.what());
    return 1;
  }
  const RunHistory& h = loaded.history;
  session.mode = mode;
  session.run_id = h.id;
  session.history = &h;
  session.rerun_interrupted = opts.rerun_interrupted;
  // The run takes its leases again (it holds them already, if it was killed: same run id).
  session.lease_duration_s = opts.lease_duration_s;
  session.save_world = opts.save_world;
  session.vm = vm_options(global);
  session.verbose = global.verbose;
  if (!journal_session(session, loaded.dir)) return 1;
  if (session.fixture.empty()) {
    std::string what = fmt::format("{} run {} of {}", rollback ? "roll back" : "resume", h.id,
                                   string_member(h.first_started(), "playbook"));
    session.confirm = confirmation(opts, what, mode);
  }

  std::unique_ptr<run::EventSink> sink;
  if (opts.output == "json") sink = std::make_unique<report::JsonLinesSink>(std::cout);
  else sink = std::make_unique<report::ConsoleSink>(std::cout, report::ConsoleOptions{use_color(global), global.verbose});
  try {
    auto result = run::run_session(session, {sink.get()});
    std::cout.flush();
    return run::exit_code(result.outcome);
  } catch (const run::SetupError& e) {
    // A consumer of -o json still gets its last line: run_finished, saying why nothing ran.
    if (opts.output == "json") {
      std::cout << nlohmann::ordered_json{{"event", "run_finished"}, {"time", 0}, {"status", "setup_failed"},
                                          {"exit_code", 1}, {"message", e.what()}, {"changed", false}}.dump()
                << std::endl;
    }
    std::cout.flush();
    print_error(e.what());
    return 1;
  }
}

void add_continue(CLI::App& app, GlobalOptions& global, Command& command, const std::string& mode) {
  auto opts = std::make_shared<ContinueOptions>();
  const bool rollback = mode == "rollback";
  auto* sub = app.add_subcommand(
      mode, rollback ? "undo what a journaled run did: rollback hooks newest first, to an irreversible step, then cleanups"
                     : "continue a journaled run that stopped: the steps it finished are skipped");
  sub->add_option("RUN", opts->run, "the run's id, or a unique beginning of it (refit runs lists them)")->required();
  add_state_dir_option(sub, opts->state_dir);
  sub->add_flag("--force", opts->force,
                rollback ? "go on although the playbook changed since the run, or the run succeeded"
                         : "go on although the playbook changed since the run");
  if (!rollback) {
    sub->add_flag("--rerun-interrupted", opts->rerun_interrupted,
                  "run the interrupted step again although it has no `done` to tell whether its change was made");
  }
  sub->add_flag("-y,--yes", opts->yes, fmt::format("{} on real clusters without asking for confirmation", mode));
  add_lease_duration(*sub, opts->lease_duration_s);
  sub->add_option("--save-world", opts->save_world,
                  "a simulated world kept with --sim-state: write it as the run left it to FILE (JSON)");
  sub->add_option("--set", opts->sets, "a secret parameter's value, name=value (the journal keeps no secret)");
  sub->add_option("-f,--values", opts->values_file, "YAML file of the secret parameters' values");
  sub->add_option("-o,--output", opts->output, "text, or json: one JSON event per line")
      ->check(CLI::IsMember({"text", "json"}));
  sub->callback([&global, &command, opts, mode] {
    command.run = [&global, opts, mode] { return continue_run(global, *opts, mode); };
  });
}

}  // namespace

void add_resume(CLI::App& app, GlobalOptions& global, Command& command) { add_continue(app, global, command, "resume"); }

void add_rollback(CLI::App& app, GlobalOptions& global, Command& command) {
  add_continue(app, global, command, "rollback");
}

}  // namespace refit::cli
