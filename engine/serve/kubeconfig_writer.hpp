// The kubeconfig `refit sim serve` writes for its clients: one cluster, context and user per world
// cluster (context names are cluster names), the world's default cluster as current-context, and on
// each cluster the extension refit.dev/sim with the clock's speed, so that refit's own backend counts
// time in the served world's milliseconds.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace refit::serve {

struct ServedCluster {
  std::string name;
  std::string server;  // http://127.0.0.1:PORT/clusters/<name>
};

// The kubeconfig document (apiVersion v1, kind Config).
nlohmann::json kubeconfig_document(const std::vector<ServedCluster>& clusters, const std::string& current_context,
                                   double speed);

// Writes `document` as YAML to `path`, mode 0600, atomically (a temporary file beside it, renamed):
// a client never reads half a kubeconfig. Throws std::runtime_error naming the path and the cause.
void write_kubeconfig(const std::string& path, const nlohmann::json& document);

}  // namespace refit::serve
