// Test helpers for the Kubernetes API client: a small fake API server (cpp-httplib on 127.0.0.1, an
// ephemeral port, plain or TLS) that records every request, the discovery documents and objects the
// tests need, watch streams fed by the test, a throwaway PKI, and credentials a test controls.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cluster/cluster.hpp"
#include "cluster/kube/api_transport.hpp"
#include "cluster/kube/endpoint.hpp"

namespace refit::test {

using Json = nlohmann::json;

// A CA, a server certificate for the name "kube.test" (only: connecting as 127.0.0.1 fails
// verification), a client certificate the CA signed, and a second CA that signed nothing here.
struct TestPki {
  std::string ca_pem, other_ca_pem;
  std::string server_cert_pem, server_key_pem;
  std::string client_cert_pem, client_key_pem;
};
const TestPki& test_pki();

// What a watch handler streams: lines the test pushes, and ends the test asks for.
class WatchFeed {
 public:
  void push(const Json& event);  // one event line
  void end_stream();             // the current stream ends (as a server's timeout ends it)
  void shutdown();               // every stream ends, now and later
  // Blocks until there is a line (true) or the stream is to end (false).
  bool next(std::string& line);

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::optional<std::string>> queue_;  // nullopt: end of a stream
  bool shut_down_ = false;
};

class FakeApiServer {
 public:
  struct Tls {
    bool require_client_certificate = false;
  };
  FakeApiServer();
  explicit FakeApiServer(Tls tls);
  ~FakeApiServer();

  // Register handlers here, then start().
  httplib::Server& routes() { return *server_; }
  void start();
  // Starts on `port` (one unused_port() gave); false when it is taken meanwhile.
  bool start_on(int port);
  std::string url() const;
  int port() const { return port_; }

  // Every request so far, in order: "GET /api/v1/pods?limit=500" (query parameters sorted by name).
  std::vector<std::string> requests() const;
  // How many requests began with `prefix`.
  int count(const std::string& prefix) const;
  // The Authorization header of each request, in order ("" when there was none).
  std::vector<std::string> authorizations() const;
  void clear_requests();

  // Discovery documents for core v1 (pods, nodes, namespaces, configmaps, secrets) and apps/v1
  // (deployments), and /version (v1.29.4 unless given).
  void serve_discovery(const std::string& git_version = "v1.29.4");

  // Answers a watch request with a stream of `feed`'s lines. The feed must be this server's feed() or
  // one added with add_feed, so that the server's end releases it.
  static void stream(httplib::Response& res, WatchFeed& feed);
  void add_feed(WatchFeed& feed) { feeds_.push_back(&feed); }
  WatchFeed& feed() { return feed_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  bool tls_ = false;
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::vector<std::string> authorizations_;
  WatchFeed feed_;
  std::vector<WatchFeed*> feeds_;
};

// A Status body as the API server writes it.
std::string status_body(int code, const std::string& reason, const std::string& message,
                        const Json& details = nullptr);

// Credentials a test controls: a token (optionally one per call), a client certificate, and a count of
// how often they were asked and invalidated.
class TestCredentials : public kube::Credentials {
 public:
  std::vector<std::string> tokens;  // handed out in turn; the last one repeats
  std::optional<kube::ClientCertificate> certificate;
  int token_calls = 0, invalidations = 0;

  std::optional<std::string> bearer_token() override;
  std::optional<kube::ClientCertificate> client_certificate() override { return certificate; }
  void invalidate() override { ++invalidations; }
};

// An endpoint for `server_url` with `credentials` (a fresh TestCredentials when null).
kube::Endpoint test_endpoint(const std::string& server_url, std::shared_ptr<kube::Credentials> credentials = nullptr);

// A retry clock that never sleeps: it records the pauses asked for and moves its time by them.
struct FakeRetryClock {
  std::int64_t now = 1'000'000;
  std::vector<std::int64_t> sleeps;
  double random = 0.5;
  std::function<void(std::int64_t)> on_sleep;  // called before time moves on, when set
  kube::RetryClock clock();
};

// A port on 127.0.0.1 on which nothing listens (bound for a moment, then released).
int unused_port();

}  // namespace refit::test

namespace refit::test {

// The ApiError `fn` throws; fails the test when it throws none.
template <class Fn>
cluster::ApiError api_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const cluster::ApiError& error) {
    return error;
  }
  throw std::logic_error("expected a cluster::ApiError, and none was thrown");
}

}  // namespace refit::test
