// refit test FILE...: run Lua test files (docs/testing.md).
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "lua/fields.hpp"
#include "lua/guard.hpp"
#include "lua/json_bridge.hpp"
#include "report/console_sink.hpp"
#include "run/interrupt.hpp"
#include "run/session.hpp"

namespace refit::cli {

namespace {

using lua::string_field;

// The state directory of `t.plan { journal = true }`: one per `refit test` process, removed at its end.
std::string scratch_state_dir() {
  struct Scratch {
    std::string path;
    ~Scratch() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
  };
  static Scratch scratch;
  if (scratch.path.empty()) {
    std::string base = (std::filesystem::temp_directory_path() / "refit-test-state-XXXXXX").string();
    if (::mkdtemp(base.data()) == nullptr) throw lua::Error("t.plan: cannot make a temporary state directory");
    scratch.path = base;
  }
  return scratch.path;
}

// refit.testhost.plan(opts): runs a whole session in a fresh VM and world; returns what happened.
int testhost_plan(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  run::SessionOptions options;
  options.playbook = string_field(L, 1, "playbook");
  options.fixture = string_field(L, 1, "sim");
  options.mode = string_field(L, 1, "mode");
  if (options.mode.empty()) options.mode = "plan";
  std::string scenario = string_field(L, 1, "scenario");
  if (!scenario.empty()) options.scenario = scenario;
  std::string values = string_field(L, 1, "values");
  if (!values.empty()) options.values_file = values;
  lua_getfield(L, 1, "seed");
  if (lua_isinteger(L, -1)) options.seed = static_cast<std::uint64_t>(lua_tointeger(L, -1));
  lua_pop(L, 1);
  lua_getfield(L, 1, "set");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      std::string key = luaL_tolstring(L, -2, nullptr);
      lua_pop(L, 1);
      std::string value = luaL_tolstring(L, -1, nullptr);
      lua_pop(L, 2);
      options.sets.push_back(key + "=" + value);
    }
  }
  lua_pop(L, 1);
  // The nested run has the test runner's budgets, stdlib and --lib dirs, plus the case's own libs.
  options.vm = lua::Vm::from(L).options();
  lua_getfield(L, 1, "lib");
  if (lua_istable(L, -1)) {
    for (lua_Integer i = 1; i <= static_cast<lua_Integer>(lua_rawlen(L, -1)); ++i) {
      lua_rawgeti(L, -1, i);
      options.vm.lib_dirs.emplace_back(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  options.capture_world = true;

  // Durable runs in-process: journal = DIR journals the run there; interrupt_after = k (or a list)
  // asks it to stop after its k-th journal line, as a first SIGINT would; resume / rollback = RUN
  // continue a journaled run of that directory (in a fresh world from the same fixture).
  lua_getfield(L, 1, "journal");
  std::string journal_dir = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  if (lua_toboolean(L, -1) && journal_dir.empty()) journal_dir = scratch_state_dir();
  lua_pop(L, 1);
  run::journal::RunHistory history;
  if (!journal_dir.empty()) {
    options.state_dir = journal_dir;
    options.journal_hooks.raise_signal = false;
    lua_getfield(L, 1, "interrupt_after");
    if (lua_isinteger(L, -1)) options.journal_hooks.interrupt_after.push_back(lua_tointeger(L, -1));
    if (lua_istable(L, -1)) {
      for (lua_Integer i = 1; i <= static_cast<lua_Integer>(lua_rawlen(L, -1)); ++i) {
        lua_rawgeti(L, -1, i);
        options.journal_hooks.interrupt_after.push_back(lua_tointeger(L, -1));
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
    for (const char* mode : {"resume", "rollback"}) {
      std::string run_id = string_field(L, 1, mode);
      if (run_id.empty()) continue;
      options.mode = mode;
      options.run_id = run_id;
      std::string path = run::journal::journal_path(journal_dir, run_id);
      try {
        history = run::journal::read_history(path, run_id);
      } catch (const run::journal::JournalError& e) {
        throw lua::Error(e.what());
      }
      options.history = &history;
    }
    lua_getfield(L, 1, "rerun_interrupted");
    options.rerun_interrupted = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }

  run::EventRecorder recorder;
  std::ostringstream text;
  report::ConsoleSink console(text, report::ConsoleOptions{false, false});
  nlohmann::json result;
  try {
    auto r = run::run_session(options, {&recorder, &console});
    run::interrupt::reset();  // a stop asked for by interrupt_after ends with its run
    result = {{"status", run::status_name(r.outcome.status)}, {"exit_code", run::exit_code(r.outcome)},
              {"message", r.outcome.message}, {"world_before", std::move(r.world_before)},
              {"world", std::move(r.world_after)}};
    if (!r.run_id.empty()) {
      result["run_id"] = r.run_id;
      result["journal"] = r.journal;
      result["journal_dir"] = journal_dir;
    }
  } catch (const run::SetupError& e) {
    result = {{"status", "setup_failed"}, {"exit_code", 1}, {"message", e.what()}};
  }
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : recorder.events) events.push_back(e.to_json());
  result["output"] = text.str();
  lua::push_json(L, result, lua::NullMode::Drop);
  // Events keep their nulls (json.null): a merge patch that removes a field says so.
  lua::push_json(L, events, lua::NullMode::Sentinel);
  lua_setfield(L, -2, "events");
  return 1;
}

// refit.testhost.read_file(path) -> text, or nil, why: tests read the data files and the files a
// playbook wrote (relative to the working directory), which the sandbox's playbooks cannot.
int testhost_read_file(lua_State* L) {
  std::string path = luaL_checkstring(L, 1);
  auto content = lua::Vm::read_user_file(path);
  if (!content) {
    lua_pushnil(L);
    lua_pushstring(L, fmt::format("cannot read {}", path).c_str());
    return 2;
  }
  lua_pushlstring(L, content->data(), content->size());
  return 1;
}

int run_test_file(const GlobalOptions& global, const std::string& file, int& passed, int& failed) {
  lua::Vm vm(vm_options(global));
  run::prepare_vm(vm);
  lua_State* L = vm.state();
  lua_newtable(L);
  lua_pushcfunction(L, lua::guarded<testhost_plan>);
  lua_setfield(L, -2, "plan");
  lua_pushcfunction(L, lua::guarded<testhost_read_file>);
  lua_setfield(L, -2, "read_file");
  vm.preload_value("refit.testhost");

  auto source = lua::Vm::read_user_file(file);
  if (!source) {
    print_error(fmt::format("{}: cannot read the test file", file));
    return 1;
  }
  auto slash = file.find_last_of('/');
  lua::SourceDir dir{slash == std::string::npos ? "." : file.substr(0, slash), false};
  vm.add_module_dir(dir);
  if (auto err = vm.load_source(*source, file, dir)) {
    print_error(*err);
    return 1;
  }
  if (auto err = vm.pcall(0, 0)) {
    print_error(fmt::format("{}\n{}", err->message, err->traceback));
    return 1;
  }
  lua_getglobal(L, "require");
  lua_pushliteral(L, "refit.test");
  if (auto err = vm.pcall(1, 1)) {
    print_error(err->message);
    return 1;
  }
  lua_getfield(L, -1, "_report");
  if (auto err = vm.pcall(0, 3)) {
    print_error(err->message);
    return 1;
  }
  int p = static_cast<int>(lua_tointeger(L, -3));
  int f = static_cast<int>(lua_tointeger(L, -2));
  if (lua_istable(L, -1)) {
    for (lua_Integer i = 1; i <= static_cast<lua_Integer>(lua_rawlen(L, -1)); ++i) {
      lua_rawgeti(L, -1, i);
      std::cout << lua_tostring(L, -1) << '\n';
      lua_pop(L, 1);
    }
  }
  passed += p;
  failed += f;
  return f > 0 || p == 0 ? 1 : 0;  // a file with no passing case proves nothing
}

}  // namespace

void add_test(CLI::App& app, GlobalOptions& global, Command& command) {
  auto* sub = app.add_subcommand("test", "run Lua test files (see docs/testing.md)");
  auto files = std::make_shared<std::vector<std::string>>();
  sub->add_option("FILE", *files, "test files")->required();
  sub->callback([&global, &command, files] {
    command.run = [&global, files] {
      int passed = 0, failed = 0, status = 0;
      for (const auto& file : *files) status |= run_test_file(global, file, passed, failed);
      std::cout << fmt::format("{} passed, {} failed\n", passed, failed);
      return status;
    };
  });
}

}  // namespace refit::cli
