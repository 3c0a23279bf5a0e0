// refit.resource(path): reads a data file that ships beside the calling playbook or module
// (embedded for bundled playbooks, on disk otherwise). Paths are relative, without "..".
#pragma once
#include "lua/vm.hpp"

namespace refit::lua {

void preload_resource(Vm& vm);

}  // namespace refit::lua
