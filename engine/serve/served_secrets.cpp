#include "serve/served_secrets.hpp"

#include <set>

#include "cluster/kube/base64.hpp"
#include "data/yaml.hpp"

namespace refit::serve {
namespace {

std::string memo_key(const std::string& value, bool base64) { return (base64 ? "b" : "s") + value; }

const Json* find_map(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? &*it : nullptr;
}

// The name of a kubeconfig list entry ({name: ..., <field>: {...}}), or "" when it has none.
std::string entry_name(const Json& entry) {
  auto name = entry.find("name");
  return name != entry.end() && name->is_string() ? name->get<std::string>() : std::string();
}

}  // namespace

ServedSecrets::ServedSecrets(std::map<std::string, std::string, std::less<>> servers, double speed, ClientAccess access)
    : servers_(std::move(servers)), speed_(speed), access_(std::move(access)) {}

std::optional<std::string> ServedSecrets::served_kubeconfig(const std::string& text) const {
  // Most Secret values are not kubeconfigs: spare them a YAML parse.
  if (servers_.empty() || text.find("clusters") == std::string::npos || text.find("server") == std::string::npos) {
    return std::nullopt;
  }
  Json doc;
  try {
    doc = data::parse_yaml(text);
  } catch (const std::exception&) {
    return std::nullopt;  // not YAML: not a kubeconfig, served as it is (and never quoted: it may be a key)
  }
  if (!doc.is_object() || !doc.contains("clusters") || !doc["clusters"].is_array()) return std::nullopt;
  std::set<std::string> served_clusters;
  for (Json& entry : doc["clusters"]) {
    if (!entry.is_object()) continue;
    auto server = servers_.find(entry_name(entry));
    if (server == servers_.end()) continue;
    // The whole entry is replaced: a tls-server-name or proxy-url of the imitated fleet would only
    // lead the client astray.
    entry["cluster"] = served_cluster_entry(server->second, speed_, access_);
    served_clusters.insert(server->first);
  }
  if (served_clusters.empty()) return std::nullopt;
  std::set<std::string> served_users;
  if (doc.contains("contexts") && doc["contexts"].is_array()) {
    for (const Json& entry : doc["contexts"]) {
      const Json* context = entry.is_object() ? find_map(entry, "context") : nullptr;
      if (context == nullptr) continue;
      auto cluster = context->find("cluster");
      auto user = context->find("user");
      if (cluster == context->end() || user == context->end() || !cluster->is_string() || !user->is_string()) continue;
      if (served_clusters.count(cluster->get<std::string>()) != 0) served_users.insert(user->get<std::string>());
    }
  }
  if (doc.contains("users") && doc["users"].is_array()) {
    for (Json& entry : doc["users"]) {
      // The fleet's credentials (certificates, tokens, exec plugins) all go: the served ones replace them.
      if (entry.is_object() && served_users.count(entry_name(entry)) != 0) entry["user"] = client_user_entry(access_);
    }
  }
  return data::to_yaml(doc);
}

std::optional<std::string> ServedSecrets::served_value(const std::string& value, bool base64) const {
  if (servers_.empty()) return std::nullopt;
  std::string key = memo_key(value, base64);
  {
    std::lock_guard lock(mutex_);
    auto known = served_of_.find(key);
    if (known != served_of_.end()) return known->second;
  }
  // Only the kubeconfigs are remembered: any other value is let go at the cheap checks of
  // served_kubeconfig, and remembering each (every revision of every Secret) would only grow.
  std::optional<std::string> served = rewritten_value(value, base64);
  if (!served) return std::nullopt;
  std::lock_guard lock(mutex_);
  served_of_.emplace(key, *served);
  stored_of_.emplace(memo_key(*served, base64), value);
  return served;
}

std::optional<std::string> ServedSecrets::rewritten_value(const std::string& value, bool base64) const {
  std::string text = value;
  if (base64) {
    kube::Base64Problem problem;
    auto decoded = kube::decode_base64(value, problem);
    if (!decoded) return std::nullopt;
    text = std::move(*decoded);
  }
  auto rewritten = served_kubeconfig(text);
  if (!rewritten) return std::nullopt;
  return base64 ? kube::encode_base64(*rewritten) : *rewritten;
}

std::optional<Json> ServedSecrets::served(const Json& object) const {
  if (servers_.empty() || !object.is_object()) return std::nullopt;
  auto kind = object.find("kind");
  auto api_version = object.find("apiVersion");
  if (kind == object.end() || *kind != "Secret" || api_version == object.end() || *api_version != "v1") return std::nullopt;
  std::optional<Json> copy;
  for (const auto& [field, base64] : {std::pair{"data", true}, std::pair{"stringData", false}}) {
    const Json* values = find_map(object, field);
    if (values == nullptr) continue;
    for (const auto& [key, value] : values->items()) {
      if (!value.is_string()) continue;
      auto served = served_value(value.get_ref<const std::string&>(), base64);
      if (!served) continue;
      if (!copy) copy = object;
      (*copy)[field][key] = std::move(*served);
    }
  }
  return copy;
}

void ServedSecrets::restore(Json& values, const Json* stored, bool base64) const {
  if (servers_.empty() || !values.is_object()) return;
  for (auto& [key, value] : values.items()) {
    if (!value.is_string()) continue;
    const std::string& text = value.get_ref<const std::string&>();
    if (stored != nullptr && stored->is_object()) {
      auto same_key = stored->find(key);
      if (same_key != stored->end() && same_key->is_string()) {
        auto served = served_value(same_key->get_ref<const std::string&>(), base64);
        if (served && *served == text) {
          value = *same_key;
          continue;
        }
      }
    }
    std::lock_guard lock(mutex_);
    auto original = stored_of_.find(memo_key(text, base64));
    if (original != stored_of_.end()) value = original->second;
  }
}

}  // namespace refit::serve
