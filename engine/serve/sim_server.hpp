// `refit sim serve`'s server: a loaded simulated world served as Kubernetes API servers on one
// loopback port, each cluster under /clusters/<name>, with the world's virtual clock following the
// wall clock (times --speed) so that its controllers progress while clients watch. Optionally over
// HTTPS with authentication (client certificates or a bearer token), and with the scenario's API
// faults (errors, latency, watches that end early) applied to every Kubernetes request.
#pragma once
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cluster/sim/sim_runtime.hpp"
#include "serve/api_auth.hpp"
#include "serve/api_faults.hpp"
#include "serve/kubeconfig_writer.hpp"
#include "serve/served_world.hpp"
#include "serve/tls_certs.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace refit::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";  // loopback only (without TLS the API is unauthenticated)
  int port = 0;                    // 0: an ephemeral port
  double speed = 1.0;              // virtual milliseconds per wall millisecond; 0: time stands still
  std::size_t watch_history = 10'000;  // changes kept per cluster for watches (older: 410 Gone)
  int threads = 64;                // each open watch holds one
  bool log_requests = false;       // one line per request on stderr
  // HTTPS with these certificates: the server's, and the CA whose client certificates it verifies.
  std::optional<ServingCertificates> tls;
  Authentication auth;              // who may ask (with tls; without, everyone)
  // What the written kubeconfig gives clients (CA, client certificate or token): kubeconfig Secrets
  // are served with it (served_secrets.hpp), so that a client that reads one can connect.
  ClientAccess client_access;
  // The scenario's api section; null: none. Not applied to refit's own endpoints (/refit/v1/...).
  std::shared_ptr<ApiFaults> faults;
};

class SimServer {
 public:
  // `runtime` holds a loaded world; it must outlive the server.
  SimServer(sim::SimRuntime& runtime, ServeOptions options);
  ~SimServer();
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  // Binds and starts serving and the clock; returns the port. Throws std::runtime_error when the
  // address cannot be bound (TlsError when the certificates cannot be used).
  int start();

  // Ends every watch, stops serving and the clock, and waits for their threads. Idempotent.
  void stop();

  int port() const { return port_; }
  // http://127.0.0.1:<port> (https with tls)
  std::string base_url() const;
  // <base_url>/clusters/<name>: the cluster's API root, as a kubeconfig names it.
  std::string cluster_url(const std::string& cluster) const;

  // The models' failure, once the world has failed (the server then refuses every request).
  std::optional<std::string> failure() const { return world_.failure(); }

  ServedWorld& world() { return world_; }

 private:
  void run_clock();
  void handle(const httplib::Request& request, httplib::Response& response);

  sim::SimRuntime& runtime_;
  ServeOptions options_;
  ServedWorld world_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::thread listener_;
  std::atomic<bool> listener_done_ = false;
  std::thread clock_;
  std::mutex clock_mutex_;
  std::condition_variable clock_wake_;
  bool stopping_ = false;
  bool started_ = false;
};

}  // namespace refit::serve
