// refit list: the bundled playbooks and what each does.
#include <iostream>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "playbook/playbook.hpp"
#include "run/session.hpp"

namespace refit::cli {

void add_list(CLI::App& app, GlobalOptions& global, Command& command) {
  auto* sub = app.add_subcommand("list", "list the bundled playbooks");
  sub->callback([&global, &command] {
    command.run = [&global] {
      auto names = playbook::bundled_names();
      std::size_t width = 0;
      for (const auto& n : names) width = std::max(width, n.size());
      int status = 0;
      for (const auto& name : names) {
        lua::Vm vm(vm_options(global));
        run::prepare_vm(vm);
        try {
          auto loaded = playbook::load(vm, playbook::find(name));
          std::cout << fmt::format("{:<{}}  {}\n", name, width, loaded.summary);
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
