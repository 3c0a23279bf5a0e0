// The kubeconfig `refit sim serve` writes for its clients: one cluster, context and user per world
// cluster (context names are cluster names), the world's default cluster as current-context, and on
// each cluster the extension refit.dev/sim with the clock's speed, so that refit's own backend counts
// time in the served world's milliseconds. Over HTTPS each cluster carries the served world's CA and
// each user the credentials clients authenticate with (a client certificate and key, or a token): the
// file holds secrets, hence its mode.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace refit::serve {

struct ServedCluster {
  std::string name;
  std::string server;  // http://127.0.0.1:PORT/clusters/<name> (https with TLS)
};

// What a client needs besides the address; empty fields are left out of the kubeconfig.
struct ClientAccess {
  std::string ca_pem;           // certificate-authority-data
  std::string client_cert_pem;  // client-certificate-data
  std::string client_key_pem;   // client-key-data (secret)
  std::string token;            // token (secret)
};

// The cluster entry of a served cluster: its server, the refit.dev/sim extension with the clock's speed,
// and the CA when the server speaks HTTPS.
nlohmann::json served_cluster_entry(const std::string& server, double speed, const ClientAccess& access);

// The user entry clients authenticate with: the client certificate and key, or the token; empty
// (plain HTTP) when there are none.
nlohmann::json client_user_entry(const ClientAccess& access);

// The kubeconfig document (apiVersion v1, kind Config).
nlohmann::json kubeconfig_document(const std::vector<ServedCluster>& clusters, const std::string& current_context,
                                   double speed, const ClientAccess& access = {});

// Writes `document` as YAML to `path`, mode 0600, atomically (a temporary file beside it, renamed):
// a client never reads half a kubeconfig. Throws std::runtime_error naming the path and the cause.
void write_kubeconfig(const std::string& path, const nlohmann::json& document);

}  // namespace refit::serve
