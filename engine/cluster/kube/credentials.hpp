// The Credentials of a kubeconfig user entry: a token (inline or from a tokenFile), a client
// certificate and key (inline or from files) or an exec credential plugin. kubeconfig.cpp decodes
// and checks the entry; this builds what the API client asks for tokens and certificates.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/kube/endpoint.hpp"

namespace refit::kube {

// users[].user.exec of a kubeconfig.
struct ExecPluginConfig {
  std::string api_version;  // client.authentication.k8s.io/v1 or v1beta1
  std::string command;      // a name looked up on PATH, or a path (made absolute by the kubeconfig loader)
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to refit's environment
  std::string install_hint;                              // shown when the command is not found
  nlohmann::json cluster_info;  // spec.cluster for KUBERNETES_EXEC_INFO (provideClusterInfo), or null
};

// One user entry, decoded. Empty strings mean "not set".
struct CredentialSpec {
  std::string context;  // the context being resolved, and where the user entry is: for messages
  std::string user;
  std::string origin;
  std::string token;  // secret
  std::string token_file;
  std::string cert_pem;   // client-certificate-data, decoded
  std::string cert_file;  // client-certificate
  std::string key_pem;    // client-key-data, decoded (secret)
  std::string key_file;   // client-key
  std::optional<ExecPluginConfig> exec;
};

struct CredentialOptions {
  std::chrono::milliseconds plugin_timeout{60'000};
  // A plugin's credential is used until this long before the expirationTimestamp it gave, so that a
  // request does not set out with a token that expires on the way.
  std::chrono::seconds expiry_margin{10};
  // The wall clock; tests set another to cross an expiry without waiting for it.
  std::function<std::chrono::system_clock::time_point()> now;
};

// kubectl's precedence: a token, tokenFile or client certificate in the entry is used and an exec
// plugin beside them is not run; a tokenFile wins over an inline token. An empty spec gives
// Credentials that provide nothing (anonymous requests).
std::shared_ptr<Credentials> make_credentials(CredentialSpec spec, CredentialOptions options = {});

// Whether PEM text holds a certificate / a private key: a wrong file (a key given as the certificate,
// a kubeconfig given as the CA) is named where it is read, not in a TLS handshake later.
bool looks_like_pem_certificate(const std::string& text);
bool looks_like_pem_private_key(const std::string& text);

}  // namespace refit::kube
