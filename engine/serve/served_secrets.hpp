// Kubeconfig Secrets as `refit sim serve` serves them. A fixture's fleet reaches its clusters through
// kubeconfigs kept in Secrets (a Cluster API cluster's `<name>-kubeconfig`, a KKP Seed's kubeconfig),
// whose servers and credentials belong to the fleet the fixture imitates and do not exist. Served,
// each kubeconfig cluster entry named after a world cluster gets that cluster's served URL, CA and
// the refit.dev/sim extension, and the users of its contexts the served credentials, exactly as in
// the kubeconfig the server writes: a client that reads the Secret connects, as in a real fleet.
//
// The rewrite happens on the way out (reads, lists, watches, write responses); the world keeps what
// its models wrote. Rewriting the stored objects instead would make the served world differ from the
// same fixture run in process (whose Secrets the models, and the comparison of the two, read), would
// put the server's client key into the world (and so into /refit/v1/dump), and would be wrong again
// for the next server of the same world, on another port with other credentials. On the way in, a
// value a client writes back as it read it (kubectl edit, apply of a `get -o yaml`) is restored to
// the world's own, so the world never stores the served form either.
#pragma once
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "serve/kubeconfig_writer.hpp"

namespace refit::serve {

using Json = nlohmann::json;

class ServedSecrets {
 public:
  // Serves every Secret as stored.
  ServedSecrets() = default;
  // `servers`: world cluster name -> its served URL; `speed` and `access` as in the written kubeconfig.
  ServedSecrets(std::map<std::string, std::string, std::less<>> servers, double speed, ClientAccess access);
  ServedSecrets(const ServedSecrets&) = delete;
  ServedSecrets& operator=(const ServedSecrets&) = delete;

  // `object` as clients see it: nullopt when it is served as stored (not a v1 Secret, or none of its
  // values is a kubeconfig with a cluster entry named after a served cluster), else the rewritten copy.
  std::optional<Json> served(const Json& object) const;

  // The served form of one kubeconfig (its text), or nullopt when it names no served cluster or is
  // not a kubeconfig.
  std::optional<std::string> served_kubeconfig(const std::string& text) const;

  // A Secret written by a client: each value of `values` (its `data`, base64, when `base64`; its
  // `stringData` otherwise) that is the served form of a world value goes back to that value: first
  // the value of the same key in `stored` (the same map of the stored Secret; may be null), else any
  // value served before.
  void restore(Json& values, const Json* stored, bool base64) const;

 private:
  // The served form of one Secret value (memoised both ways, under mutex_: watches read from their
  // own threads).
  std::optional<std::string> served_value(const std::string& value, bool base64) const;
  // served_value's work, unremembered.
  std::optional<std::string> rewritten_value(const std::string& value, bool base64) const;

  std::map<std::string, std::string, std::less<>> servers_;
  double speed_ = 1.0;
  ClientAccess access_;
  mutable std::mutex mutex_;
  // 'b' or 's' (base64 or not) + a kubeconfig value -> its served value, and back.
  mutable std::map<std::string, std::string, std::less<>> served_of_;
  mutable std::map<std::string, std::string, std::less<>> stored_of_;
};

}  // namespace refit::serve
