// The Lua host: sandbox, strict globals, budgets, error locations, require.
#include <catch2/catch.hpp>

#include "lua/vm.hpp"
#include "run/session.hpp"

using refit::lua::CallError;
using refit::lua::SourceDir;
using refit::lua::Vm;
using refit::lua::VmOptions;

namespace {

// Runs `code` as the chunk "test.lua"; returns the error, if any, leaving results on the stack.
std::optional<CallError> run(Vm& vm, const std::string& code, int nresults = 0) {
  auto syntax = vm.load_source(code, "test.lua", SourceDir{".", false});
  if (syntax) return CallError{*syntax, "", false, false};
  return vm.pcall(0, nresults);
}

std::string error_of(Vm& vm, const std::string& code) {
  auto err = run(vm, code);
  REQUIRE(err.has_value());
  return err->message;
}

std::string string_result(Vm& vm, const std::string& code) {
  auto err = run(vm, code, 1);
  if (err) FAIL(err->message);
  std::string out = lua_tostring(vm.state(), -1) ? lua_tostring(vm.state(), -1) : "(nil)";
  lua_pop(vm.state(), 1);
  return out;
}

}  // namespace

TEST_CASE("the sandbox has no io, os, debug or package", "[lua][sandbox]") {
  Vm vm;
  CHECK(error_of(vm, "return io.open('/etc/passwd')") ==
        "test.lua:1: undeclared global 'io' (declare it with local, or require the module)");
  CHECK(error_of(vm, "os.execute('true')") ==
        "test.lua:1: undeclared global 'os' (declare it with local, or require the module)");
  CHECK(error_of(vm, "return debug.getinfo(1)").find("undeclared global 'debug'") != std::string::npos);
  CHECK(error_of(vm, "return package.loadlib").find("undeclared global 'package'") != std::string::npos);
  CHECK(error_of(vm, "dofile('/etc/passwd')").find("undeclared global 'dofile'") != std::string::npos);
  CHECK(error_of(vm, "loadfile('/etc/passwd')").find("undeclared global 'loadfile'") != std::string::npos);
  CHECK(error_of(vm, "collectgarbage()").find("undeclared global 'collectgarbage'") != std::string::npos);
  CHECK(error_of(vm, "return string.dump(print)").find("attempt to call a nil value (field 'dump')") != std::string::npos);
}

TEST_CASE("require cannot reach the host's libraries", "[lua][sandbox]") {
  Vm vm;
  std::string err = error_of(vm, "return require 'io'");
  CHECK(err.find("module 'io' not found:") != std::string::npos);
  CHECK(error_of(vm, "return require 'os'").find("module 'os' not found:") != std::string::npos);
  CHECK(error_of(vm, "return require 'debug'").find("module 'debug' not found:") != std::string::npos);
}

TEST_CASE("load refuses binary chunks and gives strict environments", "[lua][sandbox]") {
  Vm vm;
  CHECK(string_result(vm, "local f, err = load('\\27Lua\\84\\0'); return err") ==
        "attempt to load a binary chunk (mode is 't')");
  CHECK(string_result(vm, "local f = load('return undefined_name'); local ok, err = pcall(f); return err") ==
        "[string \"return undefined_name\"]:1: undeclared global 'undefined_name' (declare it with local, or "
        "require the module)");
}

TEST_CASE("globals must be declared", "[lua][sandbox]") {
  Vm vm;
  CHECK(error_of(vm, "local x = 1\nretries = 3") == "test.lua:2: assignment to undeclared global 'retries' (use local)");
  CHECK(error_of(vm, "local x = 1\n\nreturn retires + 1") ==
        "test.lua:3: undeclared global 'retires' (declare it with local, or require the module)");
  CHECK(error_of(vm, "_G.sneaky = 1") == "test.lua:1: assignment to undeclared global 'sneaky' (use local)");
  // Each chunk has its own environment: nothing leaks between chunks.
  CHECK(string_result(vm, "rawset(_G, 'leaked', 'yes') return leaked") == "yes");
  CHECK(error_of(vm, "return leaked").find("undeclared global 'leaked'") != std::string::npos);
}

TEST_CASE("the shared base and libraries cannot be changed from a chunk", "[lua][sandbox]") {
  Vm vm;
  CHECK(string_result(vm, "return tostring(getmetatable(_G))") == "false");
  CHECK(error_of(vm, "string.format = nil") ==
        "test.lua:1: the string library is shared and read-only: keep your own table (local t = {}) instead");
  CHECK(error_of(vm, "table.insert = print").find("the table library is shared and read-only") != std::string::npos);
  CHECK(error_of(vm, "getmetatable('').__index.upper = nil").find("attempt to index a boolean value") != std::string::npos);
  // After all the attempts, other chunks still see the real libraries.
  CHECK(string_result(vm, "return string.format('%d-%s', 1, ('x'):upper())") == "1-X");
}

TEST_CASE("a runaway loop stops with a clear error, even inside pcall", "[lua][budget]") {
  VmOptions options;
  options.instruction_limit = 1'000'000;
  Vm vm(options);
  auto err = run(vm, "local n = 0\nwhile true do n = n + 1 end");
  REQUIRE(err.has_value());
  CHECK(err->out_of_instructions);
  CHECK(err->message ==
        "test.lua:2: stopped after 1000000 Lua instructions in one call: is there a loop that never ends? "
        "(raise the limit with --max-instructions)");

  auto swallowed = run(vm, "while true do pcall(function() while true do end end) end");
  REQUIRE(swallowed.has_value());
  CHECK(swallowed->out_of_instructions);

  auto by_coroutine = run(vm, "while true do coroutine.resume(coroutine.create(function() while true do end end)) end");
  REQUIRE(by_coroutine.has_value());
  CHECK(by_coroutine->out_of_instructions);

  // The next call starts with a full budget.
  CHECK(string_result(vm, "local n = 0 for i = 1, 1000 do n = n + i end return tostring(n)") == "500500");
}

TEST_CASE("the memory budget stops a runaway allocation, even inside pcall", "[lua][budget]") {
  VmOptions options;
  options.memory_limit = 16u << 20;
  Vm vm(options);
  auto err = run(vm, "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end");
  REQUIRE(err.has_value());
  CHECK(err->out_of_memory);
  CHECK(err->message == "out of memory: the Lua memory budget of 16 MiB is exhausted (raise it with --memory)");

  auto swallowed = run(vm, "local ok = pcall(function() local s = string.rep('x', 64 * 1024 * 1024) end) return ok");
  REQUIRE(swallowed.has_value());
  CHECK(swallowed->out_of_memory);
  CHECK(vm.memory_peak() <= options.memory_limit);

  CHECK(string_result(vm, "return 'still alive'") == "still alive");
}

TEST_CASE("errors name the file and line, with a traceback beside them", "[lua][errors]") {
  Vm vm;
  auto err = run(vm, "local function inner()\n  error('boom')\nend\ninner()");
  REQUIRE(err.has_value());
  CHECK(err->message == "test.lua:2: boom");
  CHECK(err->traceback.find("test.lua:2: in") != std::string::npos);
  CHECK(err->traceback.find("test.lua:4: in") != std::string::npos);

  auto syntax = vm.load_source("local x = = 1", "scripts/bad.lua", SourceDir{"scripts", false});
  REQUIRE(syntax.has_value());
  CHECK(*syntax == "scripts/bad.lua:1: unexpected symbol near '='");
}

TEST_CASE("require finds the embedded stdlib with stdlib/refit chunknames", "[lua][require]") {
  Vm vm;
  refit::run::prepare_vm(vm);
  CHECK(string_result(vm, "return require('refit.semver').next_minor('1.21')") == "1.22");
  CHECK(string_result(vm, "return require('refit.json').encode({a = {1, 2}})") == "{\"a\":[1,2]}");
  std::string err = error_of(vm, "local v = require('refit.semver').next_minor('not a version') return v");
  CHECK(err.find("test.lua:1:") == 0);
  CHECK(error_of(vm, "return require 'refit.nothing'").find("no embedded file 'stdlib/refit/nothing.lua'") !=
        std::string::npos);
}

TEST_CASE("require searches the playbook's directory and --lib directories", "[lua][require]") {
  VmOptions options;
  options.lib_dirs = {"tests/unit/fixtures/lib"};
  Vm vm(options);
  vm.add_module_dir(SourceDir{"tests/unit/fixtures/playbook_dir", false});
  CHECK(string_result(vm, "return require('local_helper').greeting") == "from the playbook's directory");
  CHECK(string_result(vm, "return require('shared.helper').greeting") == "from a --lib directory");
  std::string err = error_of(vm, "return require('shared.missing')");
  CHECK(err.find("no file 'tests/unit/fixtures/lib/shared/missing.lua'") != std::string::npos);
}

TEST_CASE("a passing memory refusal that the collector recovers from is not an error later", "[lua][budget]") {
  VmOptions options;
  options.memory_limit = 16u << 20;
  Vm vm(options);
  // Garbage close to the budget: allocations are refused until the collector frees the garbage.
  // About 12 MiB stay alive; each round makes 1 MiB of garbage, so allocations near the budget are
  // refused until the emergency collection frees earlier rounds.
  std::string code = "local keep = {} for i = 1, 120 do keep[i] = string.rep('x', 100000) .. i end\n"
                     "for round = 1, 60 do local s = string.rep('y', 1000000) .. round end\n"
                     "local ok, err = pcall(error, 'an ordinary error', 0)\n"
                     "return tostring(ok) .. ' ' .. tostring(err) .. ' ' .. #keep";
  CHECK(string_result(vm, code) == "false an ordinary error 120");
  CHECK(vm.memory_peak() > (12u << 20));  // the budget was really approached
}
