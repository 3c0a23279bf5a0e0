#include "lua/lib_resource.hpp"

#include <fmt/format.h>

#include "lua/guard.hpp"

namespace refit::lua {

namespace {

int resource(lua_State* L) {
  std::string rel = luaL_checkstring(L, 1);
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) == 0 || lua_getinfo(L, "S", &ar) == 0) throw Error("refit.resource: no calling chunk");
  std::string chunk = ar.source;
  Vm& vm = Vm::from(L);
  auto origin = vm.origin_of(chunk);
  if (!origin) throw Error(fmt::format("refit.resource: {} was not loaded from a file", chunk));
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
