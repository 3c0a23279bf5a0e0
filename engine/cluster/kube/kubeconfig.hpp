// kubeconfig files, loaded and merged as kubectl does, and their contexts resolved to Endpoints.
//
// Which files: `--kubeconfig FILE` alone when given; else the files of $KUBECONFIG (':'-separated;
// missing files are skipped); else ~/.kube/config. Merging follows kubectl: the first file that
// defines a cluster, user or context name wins, and current-context comes from the first file that
// sets it. Relative paths in a file (certificate-authority, client-certificate, client-key,
// tokenFile, and an exec command that contains a '/') are relative to that file's directory.
//
// Errors (KubeconfigError) name the file and the entry, and never quote a credential.
#pragma once
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cluster/kube/credentials.hpp"
#include "cluster/kube/endpoint.hpp"

namespace refit::kube {

struct KubeconfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where kubectl looks for kubeconfigs: this process's environment, or another one for tests.
struct KubeconfigEnvironment {
  std::optional<std::string> kubeconfig;  // $KUBECONFIG; unset or empty: ~/.kube/config
  std::string home;                       // $HOME
  static KubeconfigEnvironment from_process();
};

// A context as listed (`refit contexts`, shell completion, inventory checks).
struct KubeconfigContext {
  std::string name;
  std::string cluster;
  std::string user;
  std::string namespace_name;  // "" when the context sets none
  std::string origin;          // the file that defined it
};

class Kubeconfig {
 public:
  // Reads the kubeconfig files as kubectl does; `explicit_path` is --kubeconfig ("" when not given).
  // Throws KubeconfigError for a file that cannot be read (other than a missing file listed in
  // KUBECONFIG) or parsed. Finding no file at all is not an error here: contexts() is empty and
  // endpoint() says where refit looked.
  static Kubeconfig load(const std::string& explicit_path,
                         const KubeconfigEnvironment& environment = KubeconfigEnvironment::from_process());

  // A kubeconfig given as text (a Secret's "value", e.g. a Cluster API cluster's kubeconfig):
  // `origin` names it in messages ("Secret capi-system/demo-kubeconfig"); relative paths in it are
  // relative to `base_dir` (the current directory when empty).
  static Kubeconfig parse(const std::string& text, const std::string& origin, const std::string& base_dir = "");

  // The files that were read, in order of precedence (or the inline kubeconfig's origin).
  const std::vector<std::string>& files() const;
  // current-context, or "" when no file sets it.
  const std::string& current_context() const;
  // Every context, sorted by name.
  std::vector<KubeconfigContext> contexts() const;

  // Resolves `context` (current-context when empty) to where its cluster is and how to authenticate:
  // base64 is decoded and certificate-authority is read now; tokens, client certificates and plugins
  // are read or run when the client asks the Credentials. Throws KubeconfigError naming the context,
  // the files and what to fix; for an unknown context, the contexts that exist.
  Endpoint endpoint(const std::string& context = "", const CredentialOptions& options = {}) const;

 private:
  struct Data;
  explicit Kubeconfig(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
};

// "https://10.0.0.1:6443 (context prod, cluster prod-eu, CA from the kubeconfig, token from file
// /var/run/token)": what an endpoint is, for verbose output and checks. Never a secret.
std::string describe(const Endpoint& endpoint);

}  // namespace refit::kube
