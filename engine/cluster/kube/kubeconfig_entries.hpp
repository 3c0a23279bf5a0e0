// The entries of kubeconfig files: each file's clusters, users and contexts, type-checked as
// kubectl's decoder checks them (a wrong type anywhere is an error), with relative paths made
// relative to the file, merged with kubectl's rules. kubeconfig.cpp resolves contexts from them.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace refit::kube {

struct ClusterEntry {
  std::string origin;
  std::string server;
  std::string ca_file;
  std::string ca_data;  // base64, decoded when the cluster is used
  bool insecure = false;
  std::string tls_server_name;
  std::string proxy_url;
  bool disable_compression = false;
  std::map<std::string, nlohmann::json> extensions;
};

struct ExecEntry {
  std::string api_version;
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string install_hint;
  bool provide_cluster_info = false;
  std::string interactive_mode;
};

struct UserEntry {
  std::string origin;
  std::string token;  // secret
  std::string token_file;
  std::string cert_data;  // base64
  std::string cert_file;
  std::string key_data;  // base64, secret
  std::string key_file;
  bool basic_auth = false;    // username or password set
  bool impersonates = false;  // as, as-uid, as-groups or as-user-extra set
  std::optional<std::string> auth_provider;
  std::optional<ExecEntry> exec;
};

struct ContextEntry {
  std::string origin;
  std::string cluster;
  std::string user;
  std::string namespace_name;
};

struct KubeconfigEntries {
  std::vector<std::string> files;  // the files merged, in order of precedence
  std::string current_context;     // from the first file that sets it
  std::map<std::string, ClusterEntry> clusters;
  std::map<std::string, UserEntry> users;
  std::map<std::string, ContextEntry> contexts;

  // Adds one file's entries (`label` names it in messages; its relative paths start at `base_dir`,
  // or stay relative when that is empty). A name an earlier file defined keeps that definition.
  // Throws KubeconfigError.
  void merge(const std::string& text, const std::string& label, const std::string& base_dir);
};

}  // namespace refit::kube
