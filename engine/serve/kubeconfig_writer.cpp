#include "serve/kubeconfig_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "cluster/kube/base64.hpp"
#include "data/yaml.hpp"

namespace refit::serve {

nlohmann::json kubeconfig_document(const std::vector<ServedCluster>& clusters, const std::string& current_context,
                                   double speed, const ClientAccess& access) {
  using Json = nlohmann::json;
  // Without credentials (plain HTTP) kubectl wants a user entry all the same: an empty one.
  Json user = Json::object();
  if (!access.client_cert_pem.empty()) user["client-certificate-data"] = kube::encode_base64(access.client_cert_pem);
  if (!access.client_key_pem.empty()) user["client-key-data"] = kube::encode_base64(access.client_key_pem);
  if (!access.token.empty()) user["token"] = access.token;
  Json cluster_entries = Json::array(), contexts = Json::array(), users = Json::array();
  for (const ServedCluster& c : clusters) {
    Json cluster = {{"server", c.server},
                    {"extensions", Json::array({{{"name", "refit.dev/sim"}, {"extension", {{"speed", speed}}}}})}};
    if (!access.ca_pem.empty()) cluster["certificate-authority-data"] = kube::encode_base64(access.ca_pem);
    cluster_entries.push_back({{"name", c.name}, {"cluster", std::move(cluster)}});
    contexts.push_back({{"name", c.name}, {"context", {{"cluster", c.name}, {"user", c.name}}}});
    users.push_back({{"name", c.name}, {"user", user}});
  }
  return {{"apiVersion", "v1"},          {"kind", "Config"},   {"clusters", std::move(cluster_entries)},
          {"contexts", std::move(contexts)}, {"users", std::move(users)}, {"current-context", current_context},
          {"preferences", Json::object()}};
}

void write_kubeconfig(const std::string& path, const nlohmann::json& document) {
  std::string text = data::to_yaml(document);
  std::string temporary = fmt::format("{}.tmp-{}", path, getpid());
  auto failure = [&](const char* what) {
    int error = errno;
    unlink(temporary.c_str());
    return std::runtime_error(fmt::format("cannot write the kubeconfig {}: {}: {}", path, what, std::strerror(error)));
  };
  int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error(fmt::format("cannot write the kubeconfig {}: {} (does its directory exist?)", path,
                                         std::strerror(errno)));
  }
  std::size_t written = 0;
  while (written < text.size()) {
    ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      throw failure("write");
    }
    written += static_cast<std::size_t>(n);
  }
  // O_CREAT's mode is filtered by the umask and ignored for a file left by an earlier run.
  if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
    close(fd);
    throw failure("sync");
  }
  if (close(fd) != 0) throw failure("close");
  if (rename(temporary.c_str(), path.c_str()) != 0) throw failure("rename");
}

}  // namespace refit::serve
