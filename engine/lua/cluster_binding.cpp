#include "lua/cluster_binding.hpp"

#include <map>

#include <fmt/format.h>

#include "cluster/kinds.hpp"
#include "cluster/sim/sim_cluster.hpp"
#include "lua/fields.hpp"
#include "lua/guard.hpp"
#include "lua/json_bridge.hpp"
#include "lua/parsed_json_bridge.hpp"

namespace refit::lua {

namespace {

const char* const kHandleType = "refit.Cluster";

struct Handle {
  cluster::Cluster* cluster;
  MutationObserver* observer;
  sim::SimCluster* sim;
};

Handle& check_handle(lua_State* L) {
  return *static_cast<Handle*>(luaL_checkudata(L, 1, kHandleType));
}

// The handle of a method that reaches the cluster: the observer may refuse any request (a run
// that is stopping makes none).
Handle& request_handle(lua_State* L) {
  Handle& h = check_handle(L);
  if (h.observer != nullptr) h.observer->before_request();
  return h;
}

// A field of t, or of t.metadata when t is an object.
std::string ref_field(lua_State* L, int index, const char* key) {
  std::string v = string_field(L, index, key);
  if (!v.empty()) return v;
  lua_getfield(L, index, "metadata");
  if (lua_istable(L, -1)) v = string_field(L, lua_gettop(L), key);
  lua_pop(L, 1);
  return v;
}

std::string describe(const cluster::ObjectRef& ref) {
  return ref.ns.empty() ? fmt::format("{} {}", ref.kind, ref.name) : fmt::format("{} {}/{}", ref.kind, ref.ns, ref.name);
}

cluster::ObjectRef ref_of_object(const nlohmann::json& obj) {
  cluster::ObjectRef ref;
  ref.api_version = obj.value("apiVersion", "");
  ref.kind = obj.value("kind", "");
  if (auto md = obj.find("metadata"); md != obj.end() && md->is_object()) {
    ref.ns = md->value("namespace", "");
    ref.name = md->value("name", "");
  }
  return ref;
}

void allow(Handle& h, const std::string& verb, const cluster::ObjectRef& ref) {
  if (h.observer != nullptr) h.observer->before_mutation(h.cluster->name(), verb, ref);
}

void notify(Handle& h, const std::string& verb, const cluster::ObjectRef& ref, const nlohmann::json* patch = nullptr) {
  if (h.observer != nullptr) h.observer->on_mutation(h.cluster->name(), verb, ref, patch);
}

// Store errors are raised as Lua errors at the caller's line ("Deployment kube-system/x not found").
[[noreturn]] void rethrow_as_lua(const std::exception& e, const char* method) {
  throw Error(fmt::format("{}: {}", method, e.what()));
}

int l_name(lua_State* L) {
  Handle& h = check_handle(L);
  lua_pushstring(L, h.cluster->name().c_str());
  return 1;
}

int l_version(lua_State* L) {
  Handle& h = request_handle(L);
  auto v = h.cluster->version();
  push_json(L, nlohmann::json{{"major", v.major}, {"minor", v.minor}, {"gitVersion", v.git_version}});
  return 1;
}

// c:kubeconfig(): the context the cluster is reached through (cluster.hpp), or nil.
int l_kubeconfig(lua_State* L) {
  Handle& h = check_handle(L);
  nlohmann::json view = h.cluster->kubeconfig();
  if (view.is_null()) {
    lua_pushnil(L);
  } else {
    push_json(L, view, NullMode::Drop);
  }
  return 1;
}

int l_set_version(lua_State* L) {
  Handle& h = check_handle(L);
  std::string v = luaL_checkstring(L, 2);
  if (h.sim == nullptr) throw Error("set_version: only the simulated world can change a server version");
  h.sim->set_version(v);
  return 0;
}

int l_get(lua_State* L) {
  Handle& h = request_handle(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  cluster::ObjectRef ref = read_object_ref(L, 2);
  bool found = false;
  try {
    found = h.cluster->get(ref, [&](const nlohmann::json& obj) { push_json(L, obj, NullMode::Drop); });
  } catch (const std::exception& e) {
    rethrow_as_lua(e, "get");
  }
  if (found) return 1;
  lua_pushnil(L);
  lua_pushstring(L, fmt::format("{} not found", describe(ref)).c_str());
  return 2;
}

std::string label_selector(lua_State* L, int index) {
  lua_getfield(L, index, "labels");
  std::string out;
  if (lua_type(L, -1) == LUA_TSTRING) {
    out = lua_tostring(L, -1);
  } else if (lua_istable(L, -1)) {
    std::map<std::string, std::string> sorted;  // deterministic selector text
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING) throw Error("list: labels keys must be strings");
      std::string key = lua_tostring(L, -2);  // read before luaL_tolstring pushes
      sorted[key] = luaL_tolstring(L, -1, nullptr);
      lua_pop(L, 2);
    }
    for (const auto& [k, v] : sorted) out += (out.empty() ? "" : ",") + k + "=" + v;
  } else if (!lua_isnil(L, -1)) {
    throw Error(fmt::format("list: labels must be a string or a table, got {}", luaL_typename(L, -1)));
  }
  lua_pop(L, 1);
  return out;
}

int l_list(lua_State* L) {
  Handle& h = request_handle(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  cluster::ListQuery q;
  q.kind = string_field(L, 2, "kind");
  if (q.kind.empty()) throw Error("list: kind is required, e.g. c:list { kind = \"Node\" }");
  q.api_version = string_field(L, 2, "apiVersion");
  q.ns = string_field(L, 2, "namespace");
  q.label_selector = label_selector(L, 2);
  q.field_selector = string_field(L, 2, "fields");
  lua_newtable(L);
  int out = lua_gettop(L);
  lua_Integer i = 1;
  // Items from a real cluster come parsed but not converted, and become tables directly; the simulated
  // world's are Json values.
  ParsedJsonPusher parsed(L, NullMode::Drop);
  try {
    h.cluster->list_items(q, [&](const cluster::ListItem& item) {
      if (item.json != nullptr) push_json(L, *item.json, NullMode::Drop);
      else parsed.push_item(*item.parsed, item.api_version, item.kind);
      lua_rawseti(L, out, i++);
    });
  } catch (const std::exception& e) {
    rethrow_as_lua(e, "list");
  }
  parsed.close();
  push_array_marker(L);
  lua_setmetatable(L, out);
  return 1;
}

// Writes return the stored object unless the options table says { quiet = true }: converting it to
// Lua is most of a write's cost, and controllers rarely look at it.
bool quiet(lua_State* L, int options_index) {
  if (!lua_istable(L, options_index)) return false;
  lua_getfield(L, options_index, "quiet");
  bool q = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return q;
}

// The visitor of a write: pushes the stored object for the caller, or nothing for a quiet write
// (which returns true); `ref`, when given, receives the stored object's identity.
cluster::Cluster::StoredVisitor push_stored(lua_State* L, bool quiet_write, bool& pushed,
                                            cluster::ObjectRef* ref = nullptr) {
  return [L, quiet_write, &pushed, ref](const nlohmann::json& stored) {
    if (ref != nullptr) *ref = ref_of_object(stored);
    if (!quiet_write) push_json(L, stored, NullMode::Drop);
    pushed = !quiet_write;
  };
}

int finish_write(lua_State* L, bool pushed) {
  if (!pushed) lua_pushboolean(L, 1);
  return 1;
}

nlohmann::json object_arg(lua_State* L, int index, const char* method) {
  luaL_checktype(L, index, LUA_TTABLE);
  try {
    return to_json(L, index);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: {}", method, e.what()));
  }
}

// c:create(obj [, opts]), c:apply(obj [, { force, quiet }]), c:replace(obj [, opts]).
enum class Write { Create, Apply, Replace };

template <Write W>
int l_write(lua_State* L) {
  Handle& h = request_handle(L);
  const char* method = W == Write::Apply ? "apply" : W == Write::Replace ? "replace" : "create";
  nlohmann::json obj = object_arg(L, 2, method);
  cluster::ObjectRef ref = ref_of_object(obj);
  allow(h, method, ref);
  bool pushed = false;
  cluster::ObjectRef stored_ref;
  auto visit = push_stored(L, quiet(L, 3), pushed, &stored_ref);
  try {
    if constexpr (W == Write::Apply) {
      cluster::ApplyOptions options;
      options.force = bool_field(L, 3, "force");
      h.cluster->apply(std::move(obj), options, visit);
    } else if constexpr (W == Write::Replace) {
      h.cluster->replace(std::move(obj), visit);
    } else {
      h.cluster->create(std::move(obj), visit);
    }
  } catch (const std::exception& e) {
    if (pushed) lua_pop(L, 1);
    rethrow_as_lua(e, method);
  }
  notify(h, method, stored_ref);
  return finish_write(L, pushed);
}

int l_patch(lua_State* L) {
  Handle& h = request_handle(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  cluster::ObjectRef ref = read_object_ref(L, 2);
  nlohmann::json patch = object_arg(L, 3, "patch");
  allow(h, "patch", ref);
  std::string type = "merge";
  if (lua_istable(L, 4)) {
    type = string_field(L, 4, "type");
    if (type.empty()) type = "merge";
  }
  if (type != "merge" && type != "json" && type != "strategic") {
    throw Error(fmt::format("patch: type must be \"merge\", \"json\" or \"strategic\", got \"{}\"", type));
  }
  bool pushed = false;
  auto visit = push_stored(L, quiet(L, 4), pushed);
  try {
    if (type == "merge") h.cluster->merge_patch(ref, patch, visit);
    else if (type == "json") h.cluster->json_patch(ref, patch, visit);
    else h.cluster->strategic_patch(ref, patch, visit);
  } catch (const std::exception& e) {
    if (pushed) lua_pop(L, 1);
    rethrow_as_lua(e, "patch");
  }
  notify(h, "patch", ref, &patch);
  return finish_write(L, pushed);
}

int l_patch_status(lua_State* L) {
  Handle& h = request_handle(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  cluster::ObjectRef ref = read_object_ref(L, 2);
  nlohmann::json patch = object_arg(L, 3, "patch_status");
  allow(h, "patch_status", ref);
  bool pushed = false;
  auto visit = push_stored(L, quiet(L, 4), pushed);
  try {
    h.cluster->patch_status(ref, patch, visit);
  } catch (const std::exception& e) {
    if (pushed) lua_pop(L, 1);
    rethrow_as_lua(e, "patch_status");
  }
  notify(h, "patch_status", ref, &patch);
  return finish_write(L, pushed);
}

// c:delete(ref [, { propagation = "Foreground" | "Background" | "Orphan" }]) -> true | nil, "... not found"
int l_delete(lua_State* L) {
  Handle& h = request_handle(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  cluster::ObjectRef ref = read_object_ref(L, 2);
  cluster::DeleteOptions options;
  if (lua_istable(L, 3)) options.propagation = string_field(L, 3, "propagation");
  if (!options.propagation.empty() && options.propagation != "Foreground" && options.propagation != "Background" &&
      options.propagation != "Orphan") {
    throw Error(fmt::format("delete: propagation must be \"Foreground\", \"Background\" or \"Orphan\", got \"{}\"",
                            options.propagation));
  }
  allow(h, "delete", ref);
  bool removed = false;
  try {
    removed = h.cluster->remove(ref, options);
  } catch (const std::exception& e) {
    rethrow_as_lua(e, "delete");
  }
  if (!removed) {
    lua_pushnil(L);
    lua_pushstring(L, fmt::format("{} not found", describe(ref)).c_str());
    return 2;
  }
  notify(h, "delete", ref);
  lua_pushboolean(L, 1);
  return 1;
}

// c:evict(pod_ref) -> true | nil, message, status. A refusal is an answer, not an error: 429 when a
// PodDisruptionBudget forbids it now (drains retry), 404 when the pod is already gone.
int l_evict(lua_State* L) {
  Handle& h = request_handle(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  cluster::ObjectRef ref = read_object_ref(L, 2);
  if (ref.kind != "Pod") throw Error(fmt::format("evict: only pods can be evicted, got a {}", ref.kind));
  allow(h, "evict", ref);
  try {
    h.cluster->evict(ref);
  } catch (const cluster::ApiError& e) {
    if (e.status != 429 && e.status != 404) rethrow_as_lua(e, "evict");
    lua_pushnil(L);
    lua_pushstring(L, e.what());
    lua_pushinteger(L, e.status);
    return 3;
  } catch (const std::exception& e) {
    rethrow_as_lua(e, "evict");
  }
  notify(h, "evict", ref);
  lua_pushboolean(L, 1);
  return 1;
}

int l_tostring(lua_State* L) {
  Handle& h = check_handle(L);
  lua_pushfstring(L, "cluster %s", h.cluster->name().c_str());
  return 1;
}

// Two handles on one cluster are equal: ctx:connect makes a new handle each time, and a playbook may
// ask whether a kubeconfig reaches the cluster it already has (a management cluster's own).
int l_eq(lua_State* L) {
  Handle& a = check_handle(L);
  auto* b = static_cast<Handle*>(luaL_testudata(L, 2, kHandleType));
  lua_pushboolean(L, b != nullptr && a.cluster == b->cluster);
  return 1;
}

void push_metatable(lua_State* L) {
  if (luaL_newmetatable(L, kHandleType)) {
    const luaL_Reg methods[] = {
        {"name", guarded<l_name>},         {"version", guarded<l_version>},
        {"kubeconfig", guarded<l_kubeconfig>},
        {"get", guarded<l_get>},           {"list", guarded<l_list>},
        {"create", guarded<l_write<Write::Create>>},
        {"apply", guarded<l_write<Write::Apply>>},
        {"replace", guarded<l_write<Write::Replace>>},
        {"evict", guarded<l_evict>},
        {"patch", guarded<l_patch>},       {"patch_status", guarded<l_patch_status>},
        {"delete", guarded<l_delete>},     {"set_version", guarded<l_set_version>},
        {nullptr, nullptr}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, guarded<l_tostring>);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, guarded<l_eq>);
    lua_setfield(L, -2, "__eq");
  }
}

}  // namespace

cluster::ObjectRef read_object_ref(lua_State* L, int index) {
  index = lua_absindex(L, index);
  cluster::ObjectRef ref;
  ref.kind = string_field(L, index, "kind");
  ref.api_version = string_field(L, index, "apiVersion");
  ref.name = ref_field(L, index, "name");
  ref.ns = ref_field(L, index, "namespace");
  if (ref.kind.empty()) throw Error("a ref needs kind, e.g. { kind = \"Node\", name = \"n1\" }", 2);
  if (ref.name.empty()) throw Error(fmt::format("a ref to a {} needs a name", ref.kind), 2);
  return ref;
}

void push_cluster_handle(lua_State* L, cluster::Cluster* cluster, MutationObserver* observer, sim::SimCluster* sim) {
  auto* h = static_cast<Handle*>(lua_newuserdatauv(L, sizeof(Handle), 0));
  *h = Handle{cluster, observer, sim};
  push_metatable(L);
  lua_setmetatable(L, -2);
}

}  // namespace refit::lua
