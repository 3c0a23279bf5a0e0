// One sandboxed Lua 5.4 state: the memory budget, the instruction budget, the allowed libraries,
// strict globals, `require` over the embedded stdlib and the playbook's directories, and protected
// calls that always come back with a message and a traceback.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lua/lua.hpp"
#include "lua/small_block_pool.hpp"

namespace refit::lua {

struct VmOptions {
  std::size_t memory_limit = 512u << 20;           // bytes, --memory
  std::int64_t instruction_limit = 200'000'000;    // per host-to-Lua call, --max-instructions
  std::optional<std::string> stdlib_dir;           // --stdlib / REFIT_STDLIB: load stdlib/refit from here
  std::vector<std::string> lib_dirs;               // --lib DIR (searched by require after the playbook's dir)
};

// Why a protected call failed.
struct CallError {
  std::string message;     // what the user reads; carries file:line when Lua knew it
  std::string traceback;   // the Lua stack at the error, for -v and reports
  bool out_of_memory = false;
  bool out_of_instructions = false;
};

// A place modules and data files are read from: a directory on disk or a prefix of the embedded files.
struct SourceDir {
  std::string path;        // "scripts/eks" (embedded) or a filesystem directory
  bool embedded = false;
};

class Vm {
 public:
  explicit Vm(VmOptions options = {});
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  lua_State* state() const { return L_; }
  const VmOptions& options() const { return options_; }

  // Loads a Lua file in text mode with a fresh strict environment and pushes the chunk.
  // `display` becomes the chunkname ("@" + display), so errors read display:line.
  // Returns the syntax error instead when the file does not compile (nothing pushed).
  std::optional<std::string> load_source(const std::string& source, const std::string& display,
                                         const SourceDir& origin);

  // Reads a file from disk or from the embedded bundle ("scripts/eks/upgrade.lua").
  static std::optional<std::string> read_source(const SourceDir& dir, const std::string& relative);

  // Where the stdlib is read from: the embedded copy, or --stdlib DIR.
  SourceDir stdlib_dir() const;

  // Reads a file a user named on the command line: absolute or relative, ".." allowed.
  static std::optional<std::string> read_user_file(const std::string& path);

  // Makes `require` also search `dir` (a playbook's own directory), before --lib dirs.
  void add_module_dir(SourceDir dir);

  // Calls the function below `nargs` arguments on the stack, like lua_pcall, with a fresh
  // instruction budget and a traceback handler. On failure nothing is left on the stack.
  std::optional<CallError> pcall(int nargs, int nresults);

  // Registers a module that `require` returns without searching (already on the stack: pops it).
  void preload_value(const std::string& name);

  // The directory a chunk was loaded from, by its chunkname ("@scripts/eks/upgrade.lua").
  std::optional<SourceDir> origin_of(const std::string& chunkname) const;

  std::size_t memory_peak() const { return memory_peak_; }

  // The error about to be raised stops the run (an interrupt): like a budget error, no pcall,
  // xpcall or coroutine.resume of the playbook may swallow it. Ends with the outermost pcall.
  void stop_unwinding() { stopping_ = true; }

  static Vm& from(lua_State* L);

 private:
  friend struct VmInternals;
  void open_sandbox();

  VmOptions options_;
  SmallBlockPool pool_;  // declared before L_: the state is closed before the pool goes
  lua_State* L_ = nullptr;
  std::size_t memory_in_use_ = 0;
  std::size_t memory_peak_ = 0;
  std::int64_t instructions_left_ = 0;
  bool instructions_exhausted_ = false;
  bool stopping_ = false;
  int call_depth_ = 0;
  std::string last_traceback_;
  std::vector<SourceDir> module_dirs_;
  std::map<std::string, SourceDir> origins_;
  std::function<void(const std::string&)> print_;  // where `print` writes: stderr
};

}  // namespace refit::lua
