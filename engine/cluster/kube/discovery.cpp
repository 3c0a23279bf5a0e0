#include "cluster/kube/discovery.hpp"

#include "cluster/kinds.hpp"
#include "cluster/kube/http_client.hpp"

namespace refit::kube {

std::string selector_query(const std::string& labels, const std::string& fields) {
  std::string out;
  if (!labels.empty()) out += "&labelSelector=" + url_encode(labels);
  if (!fields.empty()) out += "&fieldSelector=" + url_encode(fields);
  return out;
}

std::string ApiResource::collection_path(std::string_view ns) const {
  std::string path = base_path;
  if (namespaced && !ns.empty()) {
    path += "/namespaces/";
    path += url_encode(ns);
  }
  path += '/';
  path += plural;
  return path;
}

std::string ApiResource::object_path(std::string_view ns, std::string_view name) const {
  return collection_path(ns) + "/" + url_encode(name);
}

Discovery::GroupVersion& Discovery::load(std::string_view api_version, bool refresh) {
  auto it = group_versions_.find(api_version);
  if (it != group_versions_.end() && !refresh) return it->second;
  std::string group(group_of(api_version));
  std::string base = group.empty() ? "/api/" + std::string(api_version) : "/apis/" + std::string(api_version);
  std::optional<nlohmann::json> doc = fetch_(base);
  GroupVersion loaded;
  if (doc && doc->is_object()) {
    loaded.served = true;
    auto resources = doc->find("resources");
    if (resources != doc->end() && resources->is_array()) {
      for (const nlohmann::json& r : *resources) {
        if (!r.is_object()) continue;
        std::string name = r.value("name", "");
        std::string kind = r.value("kind", "");
        // Subresources (deployments/scale, pods/eviction) share their parent's kind or name another.
        if (name.empty() || kind.empty() || name.find('/') != std::string::npos) continue;
        bool listable = false;
        if (auto verbs = r.find("verbs"); verbs != r.end() && verbs->is_array()) {
          for (const auto& verb : *verbs) listable = listable || (verb.is_string() && verb.get<std::string>() == "list");
        }
        loaded.by_kind.try_emplace(kind, ApiResource{std::string(api_version), kind, name, group,
                                                     r.value("namespaced", false), base, listable});
      }
    }
  }
  if (it == group_versions_.end()) return group_versions_.emplace(std::string(api_version), std::move(loaded)).first->second;
  // Merged, not replaced: callers hold pointers to the resources found before.
  it->second.served = it->second.served || loaded.served;
  for (auto& [kind, resource] : loaded.by_kind) it->second.by_kind.try_emplace(kind, std::move(resource));
  return it->second;
}

const ApiResource* Discovery::find(std::string_view api_version, std::string_view kind) {
  bool fresh = !group_versions_.contains(api_version);
  GroupVersion* gv = &load(api_version, false);
  auto it = gv->by_kind.find(kind);
  if (it == gv->by_kind.end()) {
    // A CustomResourceDefinition installed since the document was read? Asked once per kind.
    std::string miss = std::string(api_version) + " " + std::string(kind);
    if (!fresh && !misses_.contains(miss)) {
      gv = &load(api_version, true);
      it = gv->by_kind.find(kind);
    }
    if (it == gv->by_kind.end()) misses_.insert(std::move(miss));
  }
  return it == gv->by_kind.end() ? nullptr : &it->second;
}

bool Discovery::serves(std::string_view api_version) { return load(api_version, false).served; }

std::vector<ApiResource> Discovery::listable() {
  std::vector<std::string> versions;
  if (auto core = fetch_("/api"); core && core->is_object()) {
    for (const auto& v : core->value("versions", nlohmann::json::array())) {
      if (v.is_string()) versions.push_back(v.get<std::string>());
    }
  }
  if (auto groups = fetch_("/apis"); groups && groups->is_object()) {
    for (const auto& g : groups->value("groups", nlohmann::json::array())) {
      if (!g.is_object()) continue;
      auto preferred = g.find("preferredVersion");
      if (preferred != g.end() && preferred->is_object() && (*preferred)["groupVersion"].is_string()) {
        versions.push_back((*preferred)["groupVersion"].get<std::string>());
      }
    }
  }
  std::vector<ApiResource> out;
  for (const auto& api_version : versions) {
    for (const auto& [kind, resource] : load(api_version, false).by_kind) {
      if (resource.listable) out.push_back(resource);
    }
  }
  return out;
}

}  // namespace refit::kube
