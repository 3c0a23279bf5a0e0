#include "serve/kubeconfig_writer.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "cluster/kube/base64.hpp"
#include "data/yaml.hpp"
#include "run/local_file.hpp"

namespace refit::serve {

nlohmann::json served_cluster_entry(const std::string& server, double speed, const ClientAccess& access) {
  using Json = nlohmann::json;
  Json cluster = {{"server", server},
                  {"extensions", Json::array({{{"name", "refit.dev/sim"}, {"extension", {{"speed", speed}}}}})}};
  if (!access.ca_pem.empty()) cluster["certificate-authority-data"] = kube::encode_base64(access.ca_pem);
  return cluster;
}

nlohmann::json client_user_entry(const ClientAccess& access) {
  // Without credentials (plain HTTP) kubectl wants a user entry all the same: an empty one.
  nlohmann::json user = nlohmann::json::object();
  if (!access.client_cert_pem.empty()) user["client-certificate-data"] = kube::encode_base64(access.client_cert_pem);
  if (!access.client_key_pem.empty()) user["client-key-data"] = kube::encode_base64(access.client_key_pem);
  if (!access.token.empty()) user["token"] = access.token;
  return user;
}

nlohmann::json kubeconfig_document(const std::vector<ServedCluster>& clusters, const std::string& current_context,
                                   double speed, const ClientAccess& access) {
  using Json = nlohmann::json;
  Json user = client_user_entry(access);
  Json cluster_entries = Json::array(), contexts = Json::array(), users = Json::array();
  for (const ServedCluster& c : clusters) {
    cluster_entries.push_back({{"name", c.name}, {"cluster", served_cluster_entry(c.server, speed, access)}});
    contexts.push_back({{"name", c.name}, {"context", {{"cluster", c.name}, {"user", c.name}}}});
    users.push_back({{"name", c.name}, {"user", user}});
  }
  return {{"apiVersion", "v1"},          {"kind", "Config"},   {"clusters", std::move(cluster_entries)},
          {"contexts", std::move(contexts)}, {"users", std::move(users)}, {"current-context", current_context},
          {"preferences", Json::object()}};
}

void write_kubeconfig(const std::string& path, const nlohmann::json& document) {
  // A missing directory is a mistake in --kubeconfig-out, not a directory to create.
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent)) {
    throw std::runtime_error(fmt::format("cannot write the kubeconfig {}: {} (does its directory exist?)", path,
                                         std::strerror(ENOENT)));
  }
  try {
    run::local_file::write_private(path, data::to_yaml(document));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("cannot write the kubeconfig: {}", e.what()));
  }
}

}  // namespace refit::serve
