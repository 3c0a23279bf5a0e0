#include "lua/vm.hpp"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "lua/embedded_files.hpp"

namespace refit::lua {

namespace {

constexpr int kHookEvery = 1000;  // instructions between two count-hook calls
const char* const kLoadedKey = "refit.loaded";
const char* const kPreloadKey = "refit.preload";
const char* const kBaseKey = "refit.base";

std::string human_bytes(std::size_t bytes) {
  if (bytes % (1u << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  return fmt::format("{} bytes", bytes);
}

bool is_safe_relative(const std::string& p) {
  if (p.empty() || p[0] == '/') return false;
  std::stringstream ss(p);
  std::string part;
  while (std::getline(ss, part, '/'))
    if (part == "..") return false;
  return true;
}

}  // namespace

// Static callbacks that need the Vm's private state.
struct VmInternals {
  static void* allocate(void* ud, void* ptr, std::size_t osize, std::size_t nsize) {
    auto* vm = static_cast<Vm*>(ud);
    if (ptr == nullptr) osize = 0;  // osize encodes the object type when ptr is null
    if (nsize == 0) {
      if (ptr != nullptr) {
        if (SmallBlockPool::is_small(osize)) vm->pool_.release(ptr, osize);
        else std::free(ptr);
      }
      vm->memory_in_use_ -= osize;
      return nullptr;
    }
    // Lua assumes shrinking never fails; only growth is checked against the budget.
    if (nsize > osize && vm->memory_in_use_ - osize + nsize > vm->options_.memory_limit) return nullptr;
    void* p = resize(vm->pool_, ptr, osize, nsize);
    if (p == nullptr) return nullptr;
    vm->memory_in_use_ = vm->memory_in_use_ - osize + nsize;
    if (vm->memory_in_use_ > vm->memory_peak_) vm->memory_peak_ = vm->memory_in_use_;
    return p;
  }

  // Moves a block between the pool (small) and malloc (large) as its size crosses the line.
  static void* resize(SmallBlockPool& pool, void* ptr, std::size_t osize, std::size_t nsize) {
    bool was_small = ptr != nullptr && SmallBlockPool::is_small(osize);
    bool is_small = SmallBlockPool::is_small(nsize);
    if (ptr == nullptr) return is_small ? pool.allocate(nsize) : std::malloc(nsize);
    if (was_small && is_small && SmallBlockPool::same_class(osize, nsize)) return ptr;
    if (!was_small && !is_small) return std::realloc(ptr, nsize);
    void* p = is_small ? pool.allocate(nsize) : std::malloc(nsize);
    if (p == nullptr) return nullptr;  // the old block stays valid, as Lua requires
    std::memcpy(p, ptr, osize < nsize ? osize : nsize);
    if (was_small) pool.release(ptr, osize);
    else std::free(ptr);
    return p;
  }

  static void count_hook(lua_State* L, lua_Debug*) {
    Vm& vm = Vm::from(L);
    vm.instructions_left_ -= kHookEvery;
    if (vm.instructions_left_ < 0) {
      vm.instructions_exhausted_ = true;
      // Inside a hook, level 0 is the Lua function that was running: that is where the loop is.
      luaL_where(L, 0);
      lua_pushfstring(L, "stopped after %I Lua instructions in one call: is there a loop that never ends? "
                      "(raise the limit with --max-instructions)",
                      static_cast<LUAI_UACINT>(vm.options_.instruction_limit));
      lua_concat(L, 2);
      lua_error(L);
    }
  }

  // Message handler: keeps the message, records the traceback beside it.
  static int message_handler(lua_State* L) {
    Vm& vm = Vm::from(L);
    const char* msg = lua_tostring(L, 1);
    if (msg == nullptr) {
      if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
        msg = lua_tostring(L, -1);
      } else {
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
      }
    }
    luaL_traceback(L, L, nullptr, 1);
    vm.last_traceback_ = lua_tostring(L, -1);
    lua_pop(L, 1);
    lua_pushstring(L, msg);
    return 1;
  }

  // pcall, xpcall and coroutine.resume must not swallow a budget error: they re-raise it, so a
  // runaway loop inside a pcall still stops (the same idea as Redis' scripting sandbox). pcall and
  // xpcall are reimplemented on lua_pcallk so they add no stack frame of their own.
  // A memory error is LUA_ERRMEM: Lua raises it only after an emergency collection could not make
  // room, so it is the budget speaking, never a passing refusal the collector recovered from.
  static int finish_pcall(lua_State* L, int status, lua_KContext extra) {
    if (status != LUA_OK && status != LUA_YIELD) {
      Vm& vm = Vm::from(L);
      if (status == LUA_ERRMEM || vm.instructions_exhausted_ || vm.stopping_) return lua_error(L);  // the message is on top
      lua_pushboolean(L, 0);
      lua_pushvalue(L, -2);
      return 2;
    }
    return lua_gettop(L) - static_cast<int>(extra);
  }
  static int pcall(lua_State* L) {
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
    return finish_pcall(L, status, 0);
  }
  static int xpcall(lua_State* L) {
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
    return finish_pcall(L, status, 2);
  }
  static int finish_resume(lua_State* L, int, lua_KContext) {
    // resume reports errors as values; Lua's memory error is always its preallocated message.
    bool memory = lua_gettop(L) >= 2 && lua_type(L, 2) == LUA_TSTRING && std::strcmp(lua_tostring(L, 2), "not enough memory") == 0;
    Vm& vm = Vm::from(L);
    if ((memory || vm.instructions_exhausted_ || vm.stopping_) && lua_gettop(L) >= 2 && !lua_toboolean(L, 1)) {
      lua_pushvalue(L, 2);
      return lua_error(L);
    }
    return lua_gettop(L);
  }
  static int resume_wrapper(lua_State* L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, finish_resume);
    return finish_resume(L, LUA_OK, 0);
  }

  static int sandboxed_load(lua_State* L) {
    // load(chunk [, chunkname [, mode [, env]]]): text only; the default env is a strict one.
    std::size_t len = 0;
    const char* src = luaL_checklstring(L, 1, &len);
    const char* name = luaL_optstring(L, 2, src);  // as the standard load: the text names itself
    int status = luaL_loadbufferx(L, src, len, name, "t");
    if (status != LUA_OK) {
      lua_pushnil(L);
      lua_insert(L, -2);
      return 2;
    }
    if (!lua_isnoneornil(L, 4)) {
      lua_pushvalue(L, 4);
    } else {
      push_strict_env(L);
    }
    lua_setupvalue(L, -2, 1);
    return 1;
  }

  static int print(lua_State* L) {
    Vm& vm = Vm::from(L);
    std::string line;
    int n = lua_gettop(L);
    for (int i = 1; i <= n; ++i) {
      if (i > 1) line += '\t';
      line += luaL_tolstring(L, i, nullptr);
      lua_pop(L, 1);
    }
    vm.print_(line);
    return 0;
  }

  static int undeclared_read(lua_State* L) {
    return luaL_error(L, "undeclared global '%s' (declare it with local, or require the module)",
                      lua_tostring(L, 2));
  }
  static int library_write(lua_State* L) {
    return luaL_error(L, "the %s library is shared and read-only: keep your own table (local t = {}) instead",
                      lua_tostring(L, lua_upvalueindex(1)));
  }

  static int undeclared_write(lua_State* L) {
    return luaL_error(L, "assignment to undeclared global '%s' (use local)", lua_tostring(L, 2));
  }

  // Pushes a fresh environment: reads fall through to the shared base (fast table lookup),
  // unknown names and all writes are errors naming file:line.
  static void push_strict_env(lua_State* L) {
    lua_newtable(L);                       // env
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "_G");             // _G is the env itself, so _G.x = 1 is refused too
    lua_newtable(L);                       // env's metatable
    lua_getfield(L, LUA_REGISTRYINDEX, kBaseKey);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, undeclared_write);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);                 // getmetatable(_G) must not hand out the shared base
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
  }

  // Finds module `name` and pushes (loader function, origin path). On failure pushes the message
  // and returns false. No Lua error is raised here: C++ objects are alive.
  static bool find_module(lua_State* L, const std::string& name) {
    Vm& vm = Vm::from(L);
    std::string relative = name;
    for (char& c : relative)
      if (c == '.') c = '/';
    std::vector<std::string> tried;

    auto try_dir = [&](const SourceDir& dir, const std::string& rel) -> int {
      for (const std::string& candidate : {rel + ".lua", rel + "/init.lua"}) {
        std::string display = dir.path.empty() ? candidate : dir.path + "/" + candidate;
        auto source = Vm::read_source(dir, candidate);
        if (!source) {
          tried.push_back(fmt::format("no {} '{}'", dir.embedded ? "embedded file" : "file", display));
          continue;
        }
        if (auto err = vm.load_source(*source, display, dir)) {
          lua_pushstring(L, err->c_str());
          return -1;
        }
        lua_pushstring(L, display.c_str());
        return 1;
      }
      return 0;
    };

    if (name == "refit" || name.rfind("refit.", 0) == 0) {
      int r = try_dir(vm.stdlib_dir(), relative);
      if (r != 0) return r > 0;
    } else {
      for (const SourceDir& dir : vm.module_dirs_) {
        int r = try_dir(dir, relative);
        if (r != 0) return r > 0;
      }
      for (const std::string& lib : vm.options_.lib_dirs) {
        int r = try_dir(SourceDir{lib, false}, relative);
        if (r != 0) return r > 0;
      }
    }
    std::string msg = fmt::format("module '{}' not found:", name);
    for (const auto& t : tried) msg += "\n\t" + t;
    lua_pushstring(L, msg.c_str());
    return false;
  }

  static bool find_module_guarded(lua_State* L, const std::string& name) {
    try {
      return find_module(L, name);
    } catch (const std::exception& e) {
      lua_pushstring(L, e.what());
      return false;
    }
  }

  static int require(lua_State* L) {
    const char* name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, kLoadedKey);  // 2
    lua_getfield(L, 2, name);
    if (lua_toboolean(L, -1)) return 1;
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, kPreloadKey);
    lua_getfield(L, -1, name);
    if (!lua_isnil(L, -1)) {
      lua_pushvalue(L, -1);
      lua_setfield(L, 2, name);
      return 1;
    }
    lua_pop(L, 2);
    if (!find_module_guarded(L, name)) {  // message pushed; say where the require is
      luaL_where(L, 1);
      lua_insert(L, -2);
      lua_concat(L, 2);
      return lua_error(L);
    }
    // stack: name, loaded, loader, path
    lua_pushvalue(L, 1);
    lua_insert(L, -2);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
    return 1;
  }
};

Vm::Vm(VmOptions options) : options_(std::move(options)) {
  print_ = [](const std::string& line) { std::cerr << line << '\n'; };
  L_ = lua_newstate(&VmInternals::allocate, this);
  if (L_ == nullptr) throw std::runtime_error("cannot create a Lua state");
  *static_cast<Vm**>(lua_getextraspace(L_)) = this;  // copied into every coroutine
  open_sandbox();
}

Vm::~Vm() {
  if (L_ != nullptr) lua_close(L_);
}

Vm& Vm::from(lua_State* L) { return **static_cast<Vm**>(lua_getextraspace(L)); }

void Vm::open_sandbox() {
  lua_State* L = L_;
  // Only these libraries: no io, os, debug, package (require is ours).
  const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},        {LUA_COLIBNAME, luaopen_coroutine},
                           {LUA_TABLIBNAME, luaopen_table},   {LUA_STRLIBNAME, luaopen_string},
                           {LUA_MATHLIBNAME, luaopen_math},   {LUA_UTF8LIBNAME, luaopen_utf8}};
  for (const auto& lib : libs) {
    luaL_requiref(L, lib.name, lib.func, 1);
    lua_pop(L, 1);
  }
  lua_pushglobaltable(L);
  int g = lua_gettop(L);
  for (const char* name : {"dofile", "loadfile", "collectgarbage"}) {
    lua_pushnil(L);
    lua_setfield(L, g, name);
  }
  lua_getfield(L, g, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");  // binary chunks cannot be loaded anyway; do not make them either
  lua_pop(L, 1);

  lua_pushcfunction(L, &VmInternals::sandboxed_load);
  lua_setfield(L, g, "load");
  lua_pushcfunction(L, &VmInternals::print);
  lua_setfield(L, g, "print");
  lua_pushcfunction(L, &VmInternals::require);
  lua_setfield(L, g, "require");

  // Budget errors cannot be caught by Lua code.
  lua_pushcfunction(L, &VmInternals::pcall);
  lua_setfield(L, g, "pcall");
  lua_pushcfunction(L, &VmInternals::xpcall);
  lua_setfield(L, g, "xpcall");
  lua_getfield(L, g, "coroutine");
  lua_getfield(L, -1, "resume");
  lua_pushcclosure(L, &VmInternals::resume_wrapper, 1);
  lua_setfield(L, -2, "resume");
  lua_pop(L, 1);

  // Library tables are shared by every chunk (the stdlib and the simulation models included), so
  // chunks see read-only views of them: `string.format = nil` in a playbook cannot break the world.
  for (const char* lib : {LUA_COLIBNAME, LUA_TABLIBNAME, LUA_STRLIBNAME, LUA_MATHLIBNAME, LUA_UTF8LIBNAME}) {
    lua_getfield(L, g, lib);
    lua_newtable(L);                       // the view
    lua_newtable(L);                       // its metatable
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, lib);
    lua_pushcclosure(L, &VmInternals::library_write, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, g, lib);
    lua_pop(L, 1);
  }
  lua_pushliteral(L, "");                  // strings' metatable leads to the real string table
  if (lua_getmetatable(L, -1)) {
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);

  // The global table becomes the read-only base that every chunk's strict env reads through.
  lua_newtable(L);
  lua_pushcfunction(L, &VmInternals::undeclared_read);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, &VmInternals::undeclared_write);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, g);
  lua_setfield(L, LUA_REGISTRYINDEX, kBaseKey);

  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kLoadedKey);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kPreloadKey);

  // A seeded-by-default PRNG keeps runs reproducible; the session reseeds it with --seed.
  lua_getglobal(L, "math");
  lua_getfield(L, -1, "randomseed");
  lua_pushinteger(L, 1);
  lua_call(L, 1, 0);
  lua_pop(L, 1);

  lua_sethook(L, &VmInternals::count_hook, LUA_MASKCOUNT, kHookEvery);
  // Most tables live briefly (objects converted for one look, change events): the generational
  // collector suits that better than the incremental one.
  lua_gc(L, LUA_GCGEN, 0, 0);
}

std::optional<std::string> Vm::read_source(const SourceDir& dir, const std::string& relative) {
  if (!is_safe_relative(relative)) return std::nullopt;
  std::string path = dir.path.empty() ? relative : dir.path + "/" + relative;
  if (dir.embedded) {
    auto content = embedded::find(path);
    if (!content) return std::nullopt;
    return std::string(*content);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> Vm::read_user_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;  // a directory reads as empty
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> Vm::load_source(const std::string& source, const std::string& display,
                                           const SourceDir& origin) {
  std::string chunkname = "@" + display;
  // A leading shebang line is allowed, as the standalone interpreter does.
  std::string_view text = source;
  std::string patched;
  if (text.rfind("#!", 0) == 0) {
    patched = "--" + source;
    text = patched;
  }
  if (luaL_loadbufferx(L_, text.data(), text.size(), chunkname.c_str(), "t") != LUA_OK) {
    std::string err = lua_tostring(L_, -1);
    lua_pop(L_, 1);
    return err;
  }
  VmInternals::push_strict_env(L_);
  lua_setupvalue(L_, -2, 1);
  // Data files and sibling modules resolve against the chunk's own directory.
  auto slash = display.find_last_of('/');
  origins_[chunkname] = SourceDir{slash == std::string::npos ? "" : display.substr(0, slash), origin.embedded};
  return std::nullopt;
}

SourceDir Vm::stdlib_dir() const {
  return options_.stdlib_dir ? SourceDir{*options_.stdlib_dir, false} : SourceDir{"stdlib", true};
}

void Vm::add_module_dir(SourceDir dir) {
  for (const auto& d : module_dirs_)
    if (d.path == dir.path && d.embedded == dir.embedded) return;
  module_dirs_.push_back(std::move(dir));
}

void Vm::preload_value(const std::string& name) {
  lua_getfield(L_, LUA_REGISTRYINDEX, kPreloadKey);
  lua_insert(L_, -2);
  lua_setfield(L_, -2, name.c_str());
  lua_pop(L_, 1);
}

std::optional<SourceDir> Vm::origin_of(const std::string& chunkname) const {
  auto it = origins_.find(chunkname);
  if (it == origins_.end()) return std::nullopt;
  return it->second;
}

std::optional<CallError> Vm::pcall(int nargs, int nresults) {
  // Each host-to-Lua entry gets a full instruction budget; a nested entry (a controller called
  // while a step waits) saves and restores the outer one.
  std::int64_t saved_left = instructions_left_;
  bool outermost = call_depth_ == 0;
  instructions_left_ = options_.instruction_limit;
  ++call_depth_;

  int base = lua_gettop(L_) - nargs;
  lua_pushcfunction(L_, &VmInternals::message_handler);
  lua_insert(L_, base);
  int status = lua_pcall(L_, nargs, nresults, base);
  lua_remove(L_, base);

  --call_depth_;
  instructions_left_ = saved_left;
  std::optional<CallError> error;
  if (status != LUA_OK) {
    CallError e;
    e.message = lua_isstring(L_, -1) ? lua_tostring(L_, -1) : "(error without a message)";
    lua_pop(L_, 1);
    e.traceback = std::move(last_traceback_);
    e.out_of_instructions = instructions_exhausted_;
    e.out_of_memory = status == LUA_ERRMEM;
    if (e.out_of_memory) {
      e.message = fmt::format("out of memory: the Lua memory budget of {} is exhausted (raise it with --memory)",
                              human_bytes(options_.memory_limit));
    }
    error = std::move(e);
  }
  // A budget error (or a stop) ends at the outermost host call; the next call starts clean.
  if (outermost) {
    instructions_exhausted_ = false;
    stopping_ = false;
  }
  return error;
}

}  // namespace refit::lua
