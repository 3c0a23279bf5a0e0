// The ExecCredential exchange of client.authentication.k8s.io (v1 and v1beta1): the request refit
// passes to a credential plugin in KUBERNETES_EXEC_INFO, and the reading of the plugin's answer.
// Problems are described without quoting the answer: it holds the credential.
#pragma once
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace refit::kube {

inline constexpr const char* kExecApiV1 = "client.authentication.k8s.io/v1";
inline constexpr const char* kExecApiV1beta1 = "client.authentication.k8s.io/v1beta1";

struct ExecCredentialStatus {
  std::string token;                                             // secret; may be empty when a certificate is given
  std::string cert_pem;                                          // clientCertificateData
  std::string key_pem;                                           // clientKeyData (secret)
  std::optional<std::chrono::system_clock::time_point> expires;  // none: valid until invalidated
};

// What is wrong with a plugin's answer, in words that never include the answer.
struct ExecCredentialFormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// KUBERNETES_EXEC_INFO: {"apiVersion", "kind": "ExecCredential", "spec": {"interactive": false,
// "cluster": ...}}; `cluster` (spec.cluster, given when the kubeconfig sets provideClusterInfo) may
// be null.
std::string exec_credential_request(const std::string& api_version, const nlohmann::json& cluster);

// Reads the plugin's stdout, which must be an ExecCredential of `api_version` with a status that
// holds a token, a client certificate and key, or both. Throws ExecCredentialFormatError.
ExecCredentialStatus parse_exec_credential(const std::string& out, const std::string& api_version);

// RFC 3339 date-time ("2024-05-01T10:00:00Z", "2024-05-01T12:00:00.5+02:00"), or none.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text);

}  // namespace refit::kube
