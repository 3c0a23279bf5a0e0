#include "run/inventory.hpp"

#include <cstdlib>
#include <regex>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "lua/vm.hpp"

namespace refit::run {

namespace {

std::string expand_path(const std::string& path, const std::string& base_dir) {
  if (path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    return std::string(home != nullptr ? home : "") + path.substr(1);
  }
  if (!path.empty() && path[0] != '/') return base_dir + "/" + path;
  return path;
}

std::string directory_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// yaml-cpp directly, not data::parse_yaml: the order of the clusters matters ("the first one
// listed" is the default) and errors can then name the line.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& field, const std::string& why) const {
    const YAML::Mark mark = at.Mark();
    if (mark.line >= 0) throw InventoryError(fmt::format("{}:{}: {}: {}", path_, mark.line + 1, field, why));
    throw InventoryError(fmt::format("{}: {}: {}", path_, field, why));
  }

  std::string string_of(const YAML::Node& node, const std::string& field, const char* what) const {
    if (!node.IsScalar() || node.Scalar().empty()) fail(node, field, what);
    return node.Scalar();
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

Targets read_inventory(const std::string& path) {
  auto text = lua::Vm::read_user_file(path);
  if (!text) throw InventoryError(fmt::format("{}: cannot read the inventory file", path));
  YAML::Node doc;
  try {
    doc = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    throw InventoryError(fmt::format("{}:{}:{}: invalid YAML: {}", path, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  Reader r(path);
  if (!doc.IsMap()) r.fail(doc, "(top)", "an inventory is a mapping with `clusters:`");
  for (const auto& item : doc) {
    if (item.first.Scalar() != "clusters") r.fail(item.first, item.first.Scalar(), "unknown field (an inventory has only `clusters:`)");
  }
  YAML::Node clusters = doc["clusters"];
  if (!clusters.IsMap() || clusters.size() == 0) {
    r.fail(clusters.IsDefined() ? clusters : doc, "clusters",
           "required: a mapping from the playbook's cluster names to {context: ...}");
  }
  // Names are the playbook's identifiers and appear in reports: the rule of Kubernetes names.
  static const std::regex name_re("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$");
  Targets targets;
  for (const auto& item : clusters) {
    const std::string name = item.first.Scalar();
    const YAML::Node& entry = item.second;
    const std::string field = "clusters." + name;
    if (!std::regex_match(name, name_re)) {
      r.fail(item.first, field, "a cluster name is lowercase letters, digits, '-' and '.' (as Kubernetes names)");
    }
    if (!entry.IsMap()) r.fail(entry, field, "a mapping with context: (and optionally kubeconfig:, default:)");
    Target t;
    t.name = name;
    for (const auto& kv : entry) {
      const std::string key = kv.first.Scalar();
      if (key == "context") {
        t.context = r.string_of(kv.second, field + ".context", "a context name (a string)");
      } else if (key == "kubeconfig") {
        t.kubeconfig = expand_path(r.string_of(kv.second, field + ".kubeconfig", "a file path (a string)"),
                                   directory_of(path));
      } else if (key == "default") {
        bool is_default = false;
        if (!kv.second.IsScalar() || !YAML::convert<bool>::decode(kv.second, is_default)) {
          r.fail(kv.second, field + ".default", "true or false");
        }
        if (is_default && !targets.default_name.empty()) {
          r.fail(kv.second, field + ".default", fmt::format("{} is the default already: one cluster only", targets.default_name));
        }
        if (is_default) targets.default_name = name;
      } else {
        r.fail(kv.first, field + "." + key, "unknown field (known: context, kubeconfig, default)");
      }
    }
    if (t.context.empty()) r.fail(entry, field + ".context", "required: the kubeconfig context of this cluster");
    for (const auto& other : targets.clusters) {
      if (other.context == t.context && other.kubeconfig == t.kubeconfig) {
        r.fail(entry, field + ".context", fmt::format("{} is cluster {} already: one context, one name", t.context, other.name));
      }
    }
    targets.clusters.push_back(std::move(t));
  }
  if (targets.default_name.empty()) targets.default_name = targets.clusters.front().name;
  return targets;
}

Targets single_target(const std::string& context) {
  Targets targets;
  targets.clusters.push_back(Target{context.empty() ? "default" : context, context, std::nullopt});
  targets.default_name = targets.clusters.front().name;
  return targets;
}

}  // namespace refit::run
