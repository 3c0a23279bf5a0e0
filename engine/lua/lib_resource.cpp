#include "lua/lib_resource.hpp"

#include <fmt/format.h>

#include "lua/guard.hpp"

namespace refit::lua {

namespace {

int resource(lua_State* L) {
  std::string rel = luaL_checkstring(L, 1);
  // The caller is the nearest Lua function on the stack (it may be reached through pcall).
  Vm& vm = Vm::from(L);
  std::optional<SourceDir> origin;
  std::string chunk;
  lua_Debug ar;
  for (int level = 1; !origin && lua_getstack(L, level, &ar) != 0; ++level) {
    if (lua_getinfo(L, "S", &ar) == 0 || ar.what == nullptr || std::string(ar.what) == "C") continue;
    chunk = ar.source;
    origin = vm.origin_of(chunk);
  }
  if (!origin) throw Error(fmt::format("refit.resource: the calling code ({}) was not loaded from a file",
                                       chunk.empty() ? "none" : chunk));
  auto content = Vm::read_source(*origin, rel);
  if (!content) {
    std::string where = origin->path.empty() ? rel : origin->path + "/" + rel;
    throw Error(fmt::format("refit.resource: cannot read {}{} (paths are relative to the playbook, without ..)",
                            origin->embedded ? "bundled file " : "", where));
  }
  lua_pushlstring(L, content->data(), content->size());
  return 1;
}

}  // namespace

void preload_resource(Vm& vm) {
  lua_pushcfunction(vm.state(), guarded<resource>);
  vm.preload_value("refit.resource");
}

}  // namespace refit::lua
