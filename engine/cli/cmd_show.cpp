// refit show PLAYBOOK: what a playbook takes and what it will do.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "lua/json_bridge.hpp"
#include "playbook/playbook.hpp"
#include "report/duration_text.hpp"
#include "run/session.hpp"

namespace refit::cli {

namespace {

nlohmann::json described_params(lua::Vm& vm, const playbook::Loaded& loaded) {
  lua_State* L = vm.state();
  lua_getglobal(L, "require");
  lua_pushliteral(L, "refit.params");
  if (auto err = vm.pcall(1, 1)) throw playbook::LoadError(err->message);
  lua_getfield(L, -1, "describe");
  lua_remove(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, loaded.ref);
  lua_getfield(L, -1, "params");
  lua_remove(L, -2);
  if (auto err = vm.pcall(1, 1)) throw playbook::LoadError(err->message);
  nlohmann::json out = lua::to_json(L, -1);
  lua_pop(L, 1);
  return out;
}

nlohmann::json playbook_table(lua::Vm& vm, const playbook::Loaded& loaded, const char* field) {
  // Functions cannot become JSON: copy the data fields of each entry only.
  lua_State* L = vm.state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, loaded.ref);
  lua_getfield(L, -1, field);
  nlohmann::json out = nlohmann::json::array();
  auto n = static_cast<lua_Integer>(lua_istable(L, -1) ? lua_rawlen(L, -1) : 0);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, -1, i);
    nlohmann::json entry = nlohmann::json::object();
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) == LUA_TSTRING && (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)) {
        entry[lua_tostring(L, -2)] = lua_isinteger(L, -1) ? nlohmann::json(lua_tointeger(L, -1))
                                                          : nlohmann::json(lua_tostring(L, -1));
      } else if (lua_type(L, -2) == LUA_TSTRING && std::string_view(lua_tostring(L, -2)) == "irreversible" &&
                 lua_isfunction(L, -1)) {
        entry["irreversible"] = "its recovery text is written from the world as the failure leaves it";
      }
      lua_pop(L, 1);
    }
    out.push_back(entry);
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return out;
}

std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace

void add_show(CLI::App& app, GlobalOptions& global, Command& command) {
  auto* sub = app.add_subcommand("show", "show a playbook's parameters, checks and steps");
  auto name = std::make_shared<std::string>();
  sub->add_option("PLAYBOOK", *name, "bundled name (eks/upgrade) or path")->required();
  sub->callback([&global, &command, name] {
    command.run = [&global, name] {
      lua::Vm vm(vm_options(global));
      run::prepare_vm(vm);
      try {
        auto loaded = playbook::load(vm, playbook::find(*name));
        std::cout << loaded.name << " - " << loaded.summary << "\n" << "file: " << loaded.file << "\n";
        if (!loaded.description.empty()) std::cout << "\n" << loaded.description << "\n";

        auto params = described_params(vm, loaded);
        std::cout << "\nParameters\n";
        if (params.empty()) std::cout << "  (none)\n";
        std::size_t name_width = 0, req_width = 0;
        auto requirement = [](const nlohmann::json& p) {
          if (p.value("required", false)) return std::string("required");
          std::string d = text(p, "default");
          return d.empty() ? std::string("optional") : "default " + d;
        };
        for (const auto& p : params) {
          name_width = std::max(name_width, text(p, "name").size());
          req_width = std::max(req_width, requirement(p).size());
        }
        for (const auto& p : params) {
          std::cout << fmt::format("  {:<{}}  {:<8}  {:<{}}  {}\n", text(p, "name"), name_width, text(p, "type"),
                                   requirement(p), req_width, text(p, "help"));
        }
        auto checks = playbook_table(vm, loaded, "preflight");
        if (!checks.empty()) {
          std::cout << "\nPreflight checks (all run before anything changes)\n";
          for (const auto& c : checks) std::cout << "  " << text(c, "name") << "\n";
        }
        std::cout << "\nSteps\n";
        int i = 0;
        for (const auto& s : playbook_table(vm, loaded, "steps")) {
          std::string notes;
          if (text(s, "kind") == "each") notes += "  (one step per item, listed when the run reaches it)";
          if (s.contains("retries") && s["retries"].get<std::int64_t>() > 0) notes += fmt::format("  retries {}", s["retries"].get<std::int64_t>());
          if (s.contains("timeout")) notes += "  timeout " + report::duration_text(s["timeout"].get<std::int64_t>());
          std::string name = text(s, "name");
          std::cout << fmt::format("  {:>2}  {}{}\n", ++i, notes.empty() ? name : fmt::format("{:<24}", name), notes);
          if (!text(s, "summary").empty()) std::cout << "        " << text(s, "summary") << "\n";
          if (!text(s, "irreversible").empty()) std::cout << "        IRREVERSIBLE: " << text(s, "irreversible") << "\n";
        }
      } catch (const playbook::LoadError& e) {
        print_error(e.what());
        return 1;
      }
      return 0;
    };
  });
}

}  // namespace refit::cli
