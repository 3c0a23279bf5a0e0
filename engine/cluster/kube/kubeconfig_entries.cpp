// Reading one kubeconfig file into KubeconfigEntries: YAML via data::parse_yaml, each field checked
// for its type, messages that name the file, the entry and the field, and never a value.
#include "cluster/kube/kubeconfig_entries.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "cluster/kube/kubeconfig.hpp"
#include "data/yaml.hpp"

namespace refit::kube {

using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* json_type_name(const Json& v) {
  switch (v.type()) {
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "a number";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::array:
      return "a list";
    case Json::value_t::object:
      return "a mapping";
    default:
      return "something else";
  }
}

// Reads the fields of one mapping of a kubeconfig, with kubectl's typing: a field given the wrong
// type is an error (kubectl refuses `token: 12345` too) that names the file, the entry and the field,
// never the value.
class Fields {
 public:
  Fields(const Json& node, std::string where, std::string prefix = "")
      : node_(node), where_(std::move(where)), prefix_(std::move(prefix)) {
    if (!node_.is_null() && !node_.is_object()) {
      throw KubeconfigError(fmt::format("{}: {} must be a mapping, not {}", where_,
                                        prefix_.empty() ? "the entry" : prefix_.substr(0, prefix_.size() - 1),
                                        json_type_name(node_)));
    }
  }

  const Json* find(const char* key) const {
    if (!node_.is_object()) return nullptr;
    auto it = node_.find(key);
    return it == node_.end() || it->is_null() ? nullptr : &*it;
  }

  std::string string(const char* key) const {
    const Json* v = find(key);
    if (!v) return "";
    if (!v->is_string()) {
      throw KubeconfigError(fmt::format("{}: {}{} must be a string, but YAML reads it as {}; quote it", where_, prefix_,
                                        key, json_type_name(*v)));
    }
    return v->get<std::string>();
  }

  bool boolean(const char* key) const {
    const Json* v = find(key);
    if (!v) return false;
    if (!v->is_boolean()) {
      throw KubeconfigError(fmt::format("{}: {}{} must be true or false", where_, prefix_, key));
    }
    return v->get<bool>();
  }

  const Json& list(const char* key) const {
    static const Json empty = Json::array();
    const Json* v = find(key);
    if (!v) return empty;
    if (!v->is_array()) {
      throw KubeconfigError(fmt::format("{}: {}{} must be a list, not {}", where_, prefix_, key, json_type_name(*v)));
    }
    return *v;
  }

  std::vector<std::string> strings(const char* key) const {
    std::vector<std::string> out;
    const Json& items = list(key);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        throw KubeconfigError(fmt::format("{}: {}{}[{}] must be a string, but YAML reads it as {}; quote it", where_,
                                          prefix_, key, i, json_type_name(items[i])));
      }
      out.push_back(items[i].get<std::string>());
    }
    return out;
  }

  const std::string& where() const { return where_; }
  const std::string& prefix() const { return prefix_; }

 private:
  const Json& node_;
  std::string where_;
  std::string prefix_;
};

// One file (or inline text) of the kubeconfig being read: where its relative paths start.
class FileReader {
 public:
  FileReader(std::string label, std::string base_dir) : label_(std::move(label)), base_dir_(std::move(base_dir)) {}

  std::string resolve(const std::string& path) const {
    if (path.empty() || base_dir_.empty() || fs::path(path).is_absolute()) return path;
    return (fs::path(base_dir_) / path).lexically_normal().string();
  }

  const std::string& label() const { return label_; }

  // Each named item of a top-level list (clusters, users, contexts): its name and its body (the
  // mapping under `body_key`). A name defined twice in one file is an error, as in kubectl.
  template <typename Visit>
  void each_named(const Fields& root, const char* list_key, const char* body_key, const char* kind, Visit visit) const {
    const Json& items = root.list(list_key);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::string item_where = fmt::format("{}: {}[{}]", label_, list_key, i);
      Fields item(items[i], item_where);
      std::string name = item.string("name");
      if (!item.find("name")) throw KubeconfigError(fmt::format("{} has no name", item_where));
      if (!seen.insert(name).second) {
        throw KubeconfigError(fmt::format("{}: {} \"{}\" is defined twice; remove one", label_, kind, name));
      }
      std::string where = fmt::format("{}: {} \"{}\"", label_, kind, name);
      static const Json absent;
      Fields body(item.find(body_key) ? *item.find(body_key) : absent, where, std::string(body_key) + ".");
      visit(name, body);
    }
  }

 private:
  std::string label_;
  std::string base_dir_;
};

ClusterEntry read_cluster(const FileReader& file, const Fields& f) {
  ClusterEntry c;
  c.origin = file.label();
  c.server = f.string("server");
  c.ca_file = file.resolve(f.string("certificate-authority"));
  c.ca_data = f.string("certificate-authority-data");
  c.insecure = f.boolean("insecure-skip-tls-verify");
  c.tls_server_name = f.string("tls-server-name");
  c.proxy_url = f.string("proxy-url");
  c.disable_compression = f.boolean("disable-compression");
  const Json& extensions = f.list("extensions");
  for (std::size_t i = 0; i < extensions.size(); ++i) {
    Fields ext(extensions[i], f.where(), fmt::format("{}extensions[{}].", f.prefix(), i));
    std::string name = ext.string("name");
    const Json* body = ext.find("extension");
    c.extensions.emplace(name, body ? *body : Json());
  }
  return c;
}

ExecEntry read_exec(const FileReader& file, const Fields& f) {
  ExecEntry e;
  e.api_version = f.string("apiVersion");
  e.command = f.string("command");
  // A command with a '/' is a path relative to the kubeconfig; a bare name is looked up on PATH.
  if (e.command.find('/') != std::string::npos) e.command = file.resolve(e.command);
  e.args = f.strings("args");
  const Json& env = f.list("env");
  for (std::size_t i = 0; i < env.size(); ++i) {
    Fields var(env[i], f.where(), fmt::format("{}env[{}].", f.prefix(), i));
    std::string name = var.string("name");
    if (name.empty()) throw KubeconfigError(fmt::format("{}: {}env[{}] has no name", f.where(), f.prefix(), i));
    e.env.emplace_back(name, var.string("value"));
  }
  e.install_hint = f.string("installHint");
  e.provide_cluster_info = f.boolean("provideClusterInfo");
  e.interactive_mode = f.string("interactiveMode");
  return e;
}

UserEntry read_user(const FileReader& file, const Fields& f) {
  UserEntry u;
  u.origin = file.label();
  u.token = f.string("token");
  u.token_file = file.resolve(f.string("tokenFile"));
  u.cert_data = f.string("client-certificate-data");
  u.cert_file = file.resolve(f.string("client-certificate"));
  u.key_data = f.string("client-key-data");
  u.key_file = file.resolve(f.string("client-key"));
  u.basic_auth = !f.string("username").empty() || !f.string("password").empty();
  u.impersonates = !f.string("as").empty() || !f.string("as-uid").empty() || !f.list("as-groups").empty() ||
                   f.find("as-user-extra") != nullptr;
  if (const Json* provider = f.find("auth-provider")) {
    Fields p(*provider, f.where(), f.prefix() + "auth-provider.");
    u.auth_provider = p.string("name");
  }
  if (const Json* exec = f.find("exec")) u.exec = read_exec(file, Fields(*exec, f.where(), f.prefix() + "exec."));
  return u;
}

ContextEntry read_context(const FileReader& file, const Fields& f) {
  return ContextEntry{file.label(), f.string("cluster"), f.string("user"), f.string("namespace")};
}

}  // namespace

void KubeconfigEntries::merge(const std::string& text, const std::string& label, const std::string& base_dir) {
  FileReader file(label, base_dir);
  Json root;
  try {
    root = data::parse_yaml(text);
  } catch (const data::YamlError& e) {
    if (e.line > 0) throw KubeconfigError(fmt::format("{}:{}:{}: invalid YAML: {}", label, e.line, e.column, e.what()));
    throw KubeconfigError(fmt::format("{}: invalid YAML: {}", label, e.what()));
  }
  if (!root.is_null() && !root.is_object()) {
    throw KubeconfigError(
        fmt::format("{}: not a kubeconfig: the document is {}, not a mapping", label, json_type_name(root)));
  }
  Fields top(root, label);
  std::string kind = top.string("kind");
  if (!kind.empty() && kind != "Config") {
    throw KubeconfigError(fmt::format("{}: not a kubeconfig: its kind is {}, not Config", label, kind));
  }
  if (current_context.empty()) current_context = top.string("current-context");
  file.each_named(top, "clusters", "cluster", "cluster",
                  [&](const std::string& name, const Fields& f) { clusters.emplace(name, read_cluster(file, f)); });
  file.each_named(top, "users", "user", "user",
                  [&](const std::string& name, const Fields& f) { users.emplace(name, read_user(file, f)); });
  file.each_named(top, "contexts", "context", "context",
                  [&](const std::string& name, const Fields& f) { contexts.emplace(name, read_context(file, f)); });
  files.push_back(label);
}

}  // namespace refit::kube
