// Finding a playbook (a bundled name such as eks/upgrade, or a path), loading it in the sandbox,
// checking its shape through refit.validate, and resolving its parameters.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lua/vm.hpp"

namespace refit::playbook {

// Anything that stops a playbook from loading: the message says what, where and how to fix it.
struct LoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Source {
  std::string display;     // "scripts/eks/upgrade.lua" or the path as given
  std::string content;
  lua::SourceDir dir;      // where its modules and data files are
};

// The bundled playbook names ("eks/upgrade"), sorted.
std::vector<std::string> bundled_names();

// Resolves PLAYBOOK: a bundled name first, then a file. Throws LoadError.
Source find(const std::string& arg);

// The validated playbook (refit.validate's normalized table), kept in the Lua registry.
struct Loaded {
  std::string file;
  std::string name;
  std::string summary;
  std::string description;
  int ref = LUA_NOREF;
};

// Evaluates and validates. Throws LoadError.
Loaded load(lua::Vm& vm, const Source& source);

// Raw parameter values: -f values.yaml first, then --set k=v (which wins).
struct RawParams {
  std::map<std::string, nlohmann::json> values;
};
RawParams read_raw_params(const std::optional<std::string>& values_file,
                          const std::vector<std::string>& sets);

// Resolves the parameters through refit.params.resolve and pushes the resolved table.
// Throws LoadError listing every problem.
void push_resolved_params(lua::Vm& vm, const Loaded& playbook, const RawParams& raw);

// The names of the parameters declared secret (refit.param.string { secret = true }), sorted.
std::vector<std::string> secret_params(lua::Vm& vm, const Loaded& playbook);

// A view of the resolved values (a ref to their table) from refit.params: "display" (as a person
// writes them, secrets as ***), "redacted" (values, secrets as ***), "secrets" (the secret values).
nlohmann::json param_view(lua::Vm& vm, const Loaded& playbook, int resolved_ref, const char* view);

}  // namespace refit::playbook
