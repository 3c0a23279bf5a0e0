#include "serve/resource_catalog.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <tuple>

#include "cluster/kinds.hpp"
#include "data/json_fields.hpp"
#include "serve/api_path.hpp"
#include "serve/builtin_resources.hpp"

namespace refit::serve {

using data::string_member;

namespace {

std::string key_of(std::string_view group, std::string_view version, std::string_view plural) {
  std::string key;
  key.reserve(group.size() + version.size() + plural.size() + 2);
  key.append(group).append(1, '/').append(version).append(1, '/').append(plural);
  return key;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int minor_of(const cluster::ServerVersion& version) {
  int minor = 0;
  std::from_chars(version.minor.data(), version.minor.data() + version.minor.size(), minor);
  return minor;
}

// (major, stability, level): stability 3 GA, 2 beta, 1 alpha; 0 when the text is no such version.
std::tuple<int, int, int> version_rank(std::string_view v) {
  if (v.size() < 2 || v[0] != 'v' || !std::isdigit(static_cast<unsigned char>(v[1]))) return {0, 0, 0};
  int major = 0;
  auto [rest, ec] = std::from_chars(v.data() + 1, v.data() + v.size(), major);
  std::string_view tail(rest, v.data() + v.size() - rest);
  if (tail.empty()) return {major, 3, 0};
  int stability = tail.starts_with("beta") ? 2 : tail.starts_with("alpha") ? 1 : 0;
  if (stability == 0) return {0, 0, 0};
  tail.remove_prefix(stability == 2 ? 4 : 5);
  int level = 0;
  auto [end, ec2] = std::from_chars(tail.data(), tail.data() + tail.size(), level);
  if (ec2 != std::errc() || end != tail.data() + tail.size()) return {0, 0, 0};
  return {major, stability, level};
}

const Json* member(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::vector<std::string> strings_at(const Json& object, const char* key) {
  std::vector<std::string> out;
  if (const Json* list = member(object, key); list != nullptr && list->is_array()) {
    for (const Json& item : *list)
      if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

// client-go's guess of a kind's resource name (meta.UnsafeGuessKindToResource).
std::string guessed_plural(std::string_view kind) {
  std::string singular = lower(kind);
  if (singular.ends_with('s')) return singular + "es";
  if (singular.ends_with('y')) return singular.substr(0, singular.size() - 1) + "ies";
  return singular + "s";
}

const Json verbs_all = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
const Json verbs_status = {"get", "patch", "update"};

}  // namespace

bool version_before(std::string_view a, std::string_view b) {
  auto ra = version_rank(a), rb = version_rank(b);
  bool known_a = std::get<1>(ra) != 0, known_b = std::get<1>(rb) != 0;
  if (known_a != known_b) return known_a;
  if (!known_a) return a < b;
  auto [ma, sa, la] = ra;
  auto [mb, sb, lb] = rb;
  if (sa != sb) return sa > sb;
  if (ma != mb) return ma > mb;
  return la > lb;
}

ResourceCatalog::ResourceCatalog(const sim::SimCluster& cluster) {
  cluster::ServerVersion version = cluster.version();
  git_version_ = version.git_version;
  int minor = minor_of(version);
  eviction_version_ = minor >= 22 ? "v1" : "v1beta1";

  auto builtin = [&](const BuiltinKind& kind, std::string_view group, std::string_view served_version) {
    ResourceInfo info;
    info.group = group;
    info.version = served_version;
    info.api_version = group_version(group, served_version);
    info.plural = kind.plural;
    info.singular = lower(kind.kind);
    info.kind = kind.kind;
    info.namespaced = kind.namespaced;
    info.has_status = has_status_subresource(kind.kind);
    info.has_scale = has_scale_subresource(kind.kind);
    for (std::string_view name : short_names_of(kind.kind)) info.short_names.emplace_back(name);
    if (in_category_all(kind.kind)) info.categories.emplace_back("all");
    add(std::move(info));
  };
  for (const BuiltinKind& kind : builtin_kinds()) {
    builtin(kind, group_of(kind.api_version), version_of(kind.api_version));
  }
  for (const ExtraVersion& extra : extra_versions()) {
    if (extra.removed_in != 0 && minor >= extra.removed_in) continue;
    if (const BuiltinKind* kind = find_builtin_kind(extra.kind)) builtin(*kind, extra.group, extra.version);
  }
  for (auto& [group, versions] : groups_) group_order_.push_back(group);

  // Custom resources: one entry per served version of each CustomResourceDefinition (v1, or the
  // v1beta1 form with spec.version). Every custom resource has a status subresource: the simulated
  // store keeps .status apart from the rest of every object (only status writes change it).
  std::vector<std::string> custom_groups;
  std::set<std::pair<std::string, std::string>> defined;  // (group, kind) of the CRDs
  cluster.store().list(sim::ListQuery{"apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "", ""},
                       [&](const Json& crd) {
    const Json* spec = member(crd, "spec");
    if (spec == nullptr) return;
    const Json* names = member(*spec, "names");
    std::string group = string_member(*spec, "group");
    if (names == nullptr || group.empty() || string_member(*names, "plural").empty() ||
        string_member(*names, "kind").empty()) {
      return;
    }
    auto add_version = [&](const std::string& version_name) {
      ResourceInfo info;
      info.group = group;
      info.version = version_name;
      info.api_version = group_version(group, version_name);
      info.plural = string_member(*names, "plural");
      info.kind = string_member(*names, "kind");
      info.singular = string_member(*names, "singular");
      if (info.singular.empty()) info.singular = lower(info.kind);
      info.namespaced = string_member(*spec, "scope") != "Cluster";
      info.has_status = true;
      info.custom = true;
      info.short_names = strings_at(*names, "shortNames");
      info.categories = strings_at(*names, "categories");
      add(std::move(info));
    };
    defined.emplace(group, string_member(*names, "kind"));
    if (const Json* versions = member(*spec, "versions"); versions != nullptr && versions->is_array()) {
      for (const Json& v : *versions) {
        const Json* served = member(v, "served");
        if (served != nullptr && served->is_boolean() && !served->get<bool>()) continue;
        std::string name = string_member(v, "name");
        if (!name.empty()) add_version(name);
      }
    } else if (std::string name = string_member(*spec, "version"); !name.empty()) {
      add_version(name);
    }
    if (std::find(group_order_.begin(), group_order_.end(), group) == group_order_.end() &&
        std::find(custom_groups.begin(), custom_groups.end(), group) == custom_groups.end()) {
      custom_groups.push_back(group);
    }
  });

  // Custom kinds with objects but no CustomResourceDefinition (fixtures and models create Cluster API
  // Machines and the like without one, as the in-process world allows): served at every version their
  // objects were written with, under the plural client-go guesses, namespaced when their objects are.
  for (const sim::ObjectStore::KindEntry& entry : cluster.store().kinds()) {
    if (builtin_is_namespaced(entry.group, entry.kind) || defined.contains({entry.group, entry.kind})) continue;
    std::set<std::string> versions;
    bool namespaced = false;
    cluster.store().list(sim::ListQuery{group_version(entry.group, "v1"), entry.kind, "", "", ""}, [&](const Json& object) {
      std::string api_version = string_member(object, "apiVersion");
      if (group_of(api_version) == entry.group) versions.insert(std::string(version_of(api_version)));
      if (const Json* metadata = member(object, "metadata")) {
        namespaced = namespaced || !string_member(*metadata, "namespace").empty();
      }
    });
    for (const std::string& v : versions) {
      ResourceInfo info;
      info.group = entry.group;
      info.version = v;
      info.api_version = group_version(entry.group, v);
      info.plural = guessed_plural(entry.kind);
      info.singular = lower(entry.kind);
      info.kind = entry.kind;
      info.namespaced = namespaced;
      info.has_status = true;
      info.custom = true;
      add(std::move(info));
    }
    if (!versions.empty() && std::find(custom_groups.begin(), custom_groups.end(), entry.group) == custom_groups.end() &&
        std::find(group_order_.begin(), group_order_.end(), entry.group) == group_order_.end()) {
      custom_groups.push_back(entry.group);
    }
  }
  std::sort(custom_groups.begin(), custom_groups.end());
  group_order_.insert(group_order_.end(), custom_groups.begin(), custom_groups.end());
}

void ResourceCatalog::add(ResourceInfo info) {
  std::vector<std::string>& versions = groups_[info.group];
  if (std::find(versions.begin(), versions.end(), info.version) == versions.end()) {
    versions.insert(std::upper_bound(versions.begin(), versions.end(), info.version,
                                     [](const std::string& a, const std::string& b) { return version_before(a, b); }),
                    info.version);
  }
  std::string key = key_of(info.group, info.version, info.plural);
  by_key_.insert_or_assign(std::move(key), std::move(info));
}

const ResourceInfo* ResourceCatalog::find(std::string_view group, std::string_view version, std::string_view plural) const {
  auto it = by_key_.find(key_of(group, version, plural));
  return it == by_key_.end() ? nullptr : &it->second;
}

bool ResourceCatalog::serves(std::string_view group, std::string_view version) const {
  auto it = groups_.find(std::string(group));
  return it != groups_.end() && std::find(it->second.begin(), it->second.end(), version) != it->second.end();
}

Json ResourceCatalog::core_versions(const std::string& server_address) const {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs", {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

Json ResourceCatalog::group_entry(const std::string& name) const {
  Json versions = Json::array();
  for (const std::string& v : groups_.at(name)) {
    versions.push_back({{"groupVersion", group_version(name, v)}, {"version", v}});
  }
  Json preferred = versions.front();
  return {{"name", name}, {"versions", std::move(versions)}, {"preferredVersion", std::move(preferred)}};
}

Json ResourceCatalog::group_list() const {
  Json groups = Json::array();
  for (const std::string& name : group_order_) {
    if (!name.empty()) groups.push_back(group_entry(name));
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", std::move(groups)}};
}

std::optional<Json> ResourceCatalog::group(std::string_view name) const {
  if (name.empty() || !groups_.contains(std::string(name))) return std::nullopt;
  Json entry = group_entry(std::string(name));
  entry["kind"] = "APIGroup";
  entry["apiVersion"] = "v1";
  return entry;
}

std::optional<Json> ResourceCatalog::resource_list(std::string_view group, std::string_view version) const {
  if (!serves(group, version)) return std::nullopt;
  Json resources = Json::array();
  std::string prefix = key_of(group, version, "");
  for (auto it = by_key_.lower_bound(prefix); it != by_key_.end() && it->first.starts_with(prefix); ++it) {
    const ResourceInfo& info = it->second;
    Json entry = {{"name", info.plural}, {"singularName", info.singular}, {"namespaced", info.namespaced},
                  {"kind", info.kind}, {"verbs", verbs_all}};
    if (!info.short_names.empty()) entry["shortNames"] = info.short_names;
    if (!info.categories.empty()) entry["categories"] = info.categories;
    resources.push_back(std::move(entry));
    if (info.has_status) {
      resources.push_back({{"name", info.plural + "/status"}, {"singularName", ""}, {"namespaced", info.namespaced},
                           {"kind", info.kind}, {"verbs", verbs_status}});
    }
    if (info.has_scale) {
      resources.push_back({{"name", info.plural + "/scale"}, {"singularName", ""}, {"namespaced", info.namespaced},
                           {"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}, {"verbs", verbs_status}});
    }
    if (info.group.empty() && info.plural == "pods") {
      // kubectl drain reads the eviction version from here (policy/v1 or policy/v1beta1).
      resources.push_back({{"name", "pods/eviction"}, {"singularName", ""}, {"namespaced", true}, {"group", "policy"},
                           {"version", eviction_version_}, {"kind", "Eviction"}, {"verbs", {"create"}}});
    }
  }
  return Json{{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", group_version(group, version)},
              {"resources", std::move(resources)}};
}

}  // namespace refit::serve
