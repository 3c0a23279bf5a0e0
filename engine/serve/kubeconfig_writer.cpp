#include "serve/kubeconfig_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "data/yaml.hpp"

namespace refit::serve {

nlohmann::json kubeconfig_document(const std::vector<ServedCluster>& clusters, const std::string& current_context,
                                   double speed) {
  using Json = nlohmann::json;
  Json cluster_entries = Json::array(), contexts = Json::array(), users = Json::array();
  for (const ServedCluster& c : clusters) {
    cluster_entries.push_back(
        {{"name", c.name},
         {"cluster",
          {{"server", c.server},
           {"extensions", Json::array({{{"name", "refit.dev/sim"}, {"extension", {{"speed", speed}}}}})}}}});
    contexts.push_back({{"name", c.name}, {"context", {{"cluster", c.name}, {"user", c.name}}}});
    // The served API needs no credentials; kubectl wants a user entry all the same.
    users.push_back({{"name", c.name}, {"user", Json::object()}});
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
