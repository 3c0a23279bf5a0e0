// refit check FILE...: load and validate playbooks, run nothing.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "playbook/playbook.hpp"
#include "run/session.hpp"

namespace refit::cli {

namespace {

int count_steps(lua::Vm& vm, const playbook::Loaded& loaded) {
  lua_State* L = vm.state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, loaded.ref);
  lua_getfield(L, -1, "steps");
  int n = static_cast<int>(lua_rawlen(L, -1));
  lua_pop(L, 2);
  return n;
}

}  // namespace

void add_check(CLI::App& app, GlobalOptions& global, Command& command) {
  auto* sub = app.add_subcommand("check", "load and validate playbooks without running them");
  auto files = std::make_shared<std::vector<std::string>>();
  sub->add_option("PLAYBOOK", *files, "playbook files or bundled names")->required();
  sub->callback([&global, &command, files] {
    command.run = [&global, files] {
      int status = 0;
      for (const auto& file : *files) {
        lua::Vm vm(vm_options(global));
        run::prepare_vm(vm);
        try {
          auto loaded = playbook::load(vm, playbook::find(file));
          int steps = count_steps(vm, loaded);
          std::cout << fmt::format("ok  {}: playbook \"{}\", {} step{}\n", loaded.file, loaded.name, steps,
                                   steps == 1 ? "" : "s");
        } catch (const playbook::LoadError& e) {
          print_error(e.what());
          status = 1;
        }
      }
      return status;
    };
  });
}

}  // namespace refit::cli
