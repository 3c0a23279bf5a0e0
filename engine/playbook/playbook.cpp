#include "playbook/playbook.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "data/yaml.hpp"
#include "lua/embedded_files.hpp"
#include "lua/fields.hpp"
#include "lua/json_bridge.hpp"

namespace refit::playbook {

namespace {

using lua::string_field;

const std::string kScripts = "scripts/";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string directory_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Calls require(module)[function] with the values on top of the stack; leaves nresults.
std::optional<lua::CallError> call_stdlib(lua::Vm& vm, const char* module, const char* function, int nargs,
                                          int nresults) {
  lua_State* L = vm.state();
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  if (auto err = vm.pcall(1, 1)) return err;
  lua_getfield(L, -1, function);
  lua_remove(L, -2);
  lua_insert(L, -(nargs + 1));
  return vm.pcall(nargs, nresults);
}

}  // namespace

std::vector<std::string> bundled_names() {
  std::vector<std::string> names;
  for (const auto& f : embedded::all()) {
    std::string path(f.path);
    if (path.rfind(kScripts, 0) != 0 || !ends_with(path, ".lua") || ends_with(path, "_test.lua")) continue;
    std::string name = path.substr(kScripts.size(), path.size() - kScripts.size() - 4);
    // product/playbook.lua only: deeper files are the playbooks' own modules and data.
    if (std::count(name.begin(), name.end(), '/') != 1) continue;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Source find(const std::string& arg) {
  if (!ends_with(arg, ".lua")) {
    std::string path = kScripts + arg + ".lua";
    if (auto content = embedded::find(path)) {
      return Source{path, std::string(*content), lua::SourceDir{directory_of(path), true}};
    }
  }
  for (const std::string& candidate : {arg, arg + ".lua"}) {
    auto content = lua::Vm::read_user_file(candidate);
    if (content) return Source{candidate, *content, lua::SourceDir{directory_of(candidate), false}};
  }
  std::string known;
  for (const auto& n : bundled_names()) known += (known.empty() ? "" : ", ") + n;
  throw LoadError(fmt::format("no playbook \"{}\": it is neither a bundled playbook ({}) nor a readable file", arg,
                              known.empty() ? "none" : known));
}

Loaded load(lua::Vm& vm, const Source& source) {
  lua_State* L = vm.state();
  vm.add_module_dir(source.dir);
  if (auto err = vm.load_source(source.content, source.display, source.dir)) throw LoadError(*err);
  if (auto err = vm.pcall(0, 1)) throw LoadError(err->message);
  lua_pushstring(L, source.display.c_str());
  if (auto err = call_stdlib(vm, "refit", "validate", 2, 1)) throw LoadError(err->message);
  Loaded out;
  out.file = source.display;
  out.name = string_field(L, -1, "name");
  out.summary = string_field(L, -1, "summary");
  out.description = string_field(L, -1, "description");
  out.ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return out;
}

RawParams read_raw_params(const std::optional<std::string>& values_file, const std::vector<std::string>& sets) {
  RawParams raw;
  if (values_file) {
    auto text = lua::Vm::read_user_file(*values_file);
    if (!text) throw LoadError(fmt::format("-f {}: cannot read the values file", *values_file));
    data::Json doc;
    try {
      doc = data::parse_yaml(*text);
    } catch (const data::YamlError& e) {
      throw LoadError(fmt::format("{}:{}:{}: invalid YAML: {}", *values_file, e.line, e.column, e.what()));
    }
    if (!doc.is_null() && !doc.is_object()) {
      throw LoadError(fmt::format("{}: a values file is a YAML mapping of parameter names to values", *values_file));
    }
    if (doc.is_object())
      for (const auto& [k, v] : doc.items()) raw.values[k] = v;
  }
  for (const auto& set : sets) {
    auto eq = set.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw LoadError(fmt::format("--set {}: expected name=value, e.g. --set to=1.21", set));
    }
    raw.values[set.substr(0, eq)] = set.substr(eq + 1);  // strings: refit.params converts by type
  }
  return raw;
}

void push_resolved_params(lua::Vm& vm, const Loaded& playbook, const RawParams& raw) {
  lua_State* L = vm.state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, playbook.ref);
  lua_getfield(L, -1, "params");
  lua_remove(L, -2);
  lua_newtable(L);
  for (const auto& [k, v] : raw.values) {
    lua::push_json(L, v, lua::NullMode::Drop);
    lua_setfield(L, -2, k.c_str());
  }
  if (auto err = call_stdlib(vm, "refit.params", "resolve", 2, 1)) {
    // One problem reads as one line; several get a header and one indented line each.
    if (err->message.find('\n') == std::string::npos) throw LoadError(fmt::format("{}: {}", playbook.file, err->message));
    std::string lines;
    for (char c : err->message) lines += c == '\n' ? std::string("\n  ") : std::string(1, c);
    throw LoadError(fmt::format("{}: invalid parameters:\n  {}", playbook.file, lines));
  }
}

std::vector<std::string> secret_params(lua::Vm& vm, const Loaded& playbook) {
  lua_State* L = vm.state();
  std::vector<std::string> names;
  lua_rawgeti(L, LUA_REGISTRYINDEX, playbook.ref);
  lua_getfield(L, -1, "params");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
        lua_getfield(L, -1, "secret");
        if (lua_toboolean(L, -1)) names.emplace_back(lua_tostring(L, -3));
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 2);
  std::sort(names.begin(), names.end());
  return names;
}

nlohmann::json param_view(lua::Vm& vm, const Loaded& playbook, int resolved_ref, const char* view) {
  lua_State* L = vm.state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, playbook.ref);
  lua_getfield(L, -1, "params");
  lua_remove(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, resolved_ref);
  if (auto err = call_stdlib(vm, "refit.params", view, 2, 1)) throw LoadError(err->message);
  nlohmann::json out = lua::to_json(L, -1);
  lua_pop(L, 1);
  return out;
}

}  // namespace refit::playbook
