// What the Kubernetes API client needs to reach one cluster, resolved from a kubeconfig context:
// where the server is, how to trust it, and how to authenticate. Credentials are secrets: nothing
// here is ever logged, reported or put in an error message.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace refit::kube {

struct ClientCertificate {
  std::string cert_pem;  // may hold a chain
  std::string key_pem;   // secret
};

// Bearer tokens and client certificates, however the kubeconfig provides them: inline, from files
// (re-read when they change, as projected service-account tokens rotate) or from an exec credential
// plugin (client.authentication.k8s.io/v1 or v1beta1; run on first use, cached until the expiry it
// states). Safe to share between threads (a watch and the requests beside it): a plugin runs once for
// all of them.
class Credentials {
 public:
  virtual ~Credentials() = default;
  // The token to send as "Authorization: Bearer", or none. Throws CredentialError when a plugin or
  // file fails (the message names the context, the command or file, and never the output).
  virtual std::optional<std::string> bearer_token() = 0;
  // The client certificate to present, or none. Same errors.
  virtual std::optional<ClientCertificate> client_certificate() = 0;
  // The server answered 401: drop cached plugin output so the next call runs the plugin again.
  virtual void invalidate() = 0;
  // Where the credentials come from, for verbose output and `refit contexts` ("token from file
  // /var/run/secrets/token", "exec plugin aws-iam-authenticator"): never a secret.
  virtual std::string describe() const { return "credentials"; }
};

// The exec credential plugin of a context's user entry as the kubeconfig writes it, for playbooks
// (kubeconfig_view.hpp): values that look like secrets are already replaced, and the plugin's
// output, which is the credential, is never part of it.
struct ExecPluginView {
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
};

struct CredentialError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Endpoint {
  std::string context;        // the kubeconfig context it came from
  std::string origin;         // the kubeconfig file that defined the context, or an inline kubeconfig's
                              // label ("Secret capi-system/demo-kubeconfig"): for messages
  std::string cluster;        // the kubeconfig cluster entry's name
  std::string default_namespace = "default";  // the context's namespace (kubectl's default for objects)
  std::string server;         // "https://10.0.0.1:6443" or "http://127.0.0.1:8080/clusters/demo" (no trailing /)
  std::string ca_pem;         // certificate-authority(-data); empty: the system's trust store
  bool insecure_skip_tls_verify = false;  // only when the kubeconfig sets it (the client warns)
  std::string tls_server_name;            // tls-server-name, when set
  std::string proxy_url;                  // proxy-url, when set
  std::shared_ptr<Credentials> credentials;  // never null (may provide nothing)
  // The kubeconfig cluster entry's extension "refit.dev/sim" ({ speed: N }): the server is a
  // `refit sim serve` world whose clock runs N times faster than the wall clock, so a run against it
  // counts time in the served world's milliseconds.
  std::optional<double> sim_speed;
  // The user entry's exec plugin, when it has one (`aws eks get-token --cluster-name demo`): where a
  // product helper finds the cloud cluster behind the context.
  std::optional<ExecPluginView> exec_plugin;
};

}  // namespace refit::kube
