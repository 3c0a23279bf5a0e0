#include "serve/sim_server.hpp"

#include <httplib.h>

#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "serve/api_request.hpp"
#include "serve/connection_probe.hpp"
#include "serve/exec_handler.hpp"
#include "serve/fault_filter.hpp"
#include "serve/router.hpp"
#include "serve/status.hpp"

namespace refit::serve {
namespace {

// How often the clock thread moves the virtual clock to the wall clock's time.
constexpr std::chrono::milliseconds kClockTick{5};

std::unique_ptr<httplib::Server> make_http_server(const ServeOptions& options) {
  if (!options.tls) return std::make_unique<httplib::Server>();
  const ServingCertificates& certs = *options.tls;
  // Client certificates are asked for, not required, as by an API server: a client without one may
  // authenticate with a token, and one with neither gets a 401 Status rather than a failed handshake.
  ClientCertificates mode = options.auth.client_certificates ? ClientCertificates::Optional : ClientCertificates::None;
  std::string failure;
  auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    try {
      configure_server_context(ctx, certs.server, certs.ca.cert_pem, mode);
      return true;
    } catch (const TlsError& e) {
      failure = e.what();
      return false;
    }
  });
  if (!server->is_valid()) {
    throw TlsError("cannot set up TLS for the server: " + (failure.empty() ? "OpenSSL refused the context" : failure));
  }
  return server;
}

}  // namespace

SimServer::SimServer(sim::SimRuntime& runtime, ServeOptions options)
    : runtime_(runtime), options_(std::move(options)), world_(runtime, options_.watch_history),
      http_(make_http_server(options_)) {}

SimServer::~SimServer() { stop(); }

std::string SimServer::base_url() const {
  return fmt::format("{}://{}:{}", options_.tls ? "https" : "http", options_.host, port_);
}

std::string SimServer::cluster_url(const std::string& cluster) const {
  return fmt::format("{}/clusters/{}", base_url(), cluster);
}

int SimServer::start() {
  httplib::Server& http = *http_;
  int threads = options_.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  // Small responses must not wait for the client's delayed ACK (Nagle): a GET is a fraction of a millisecond.
  http.set_tcp_nodelay(true);
  // cpp-httplib's default also sets SO_REUSEPORT, which lets a second server bind the same port and
  // share its connections; a taken port must be an error instead.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof yes);
  });
  // Clients keep their connections (refit's backend reuses one per cluster).
  http.set_keep_alive_max_count(100'000);
  http.set_keep_alive_timeout(30);
  // cpp-httplib would gzip (or brotli) JSON for clients that accept it, and buffer a watch stream's
  // lines inside the compressor; on loopback compression only costs time. The API server leaves
  // watches uncompressed too.
  http.set_pre_routing_handler([](const httplib::Request& request, httplib::Response&) {
    const_cast<httplib::Request&>(request).headers.erase("Accept-Encoding");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  if (options_.log_requests) {
    http.set_logger([](const httplib::Request& request, const httplib::Response& response) {
      std::cerr << fmt::format("{} {} {}\n", request.method, request.target, response.status);
    });
  }
  auto handler = [this](const httplib::Request& request, httplib::Response& response) { handle(request, response); };
  http.Get(".*", handler);
  http.Post(".*", handler);
  http.Put(".*", handler);
  http.Patch(".*", handler);
  http.Delete(".*", handler);

  if (options_.port == 0) {
    port_ = http.bind_to_any_port(options_.host);
  } else {
    port_ = http.bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    throw std::runtime_error(fmt::format("cannot listen on {}:{}: the port is taken or not allowed (--port 0 picks a "
                                         "free one)", options_.host, options_.port));
  }
  // Kubeconfig Secrets name the served clusters at their URLs, known once the port is.
  std::map<std::string, std::string, std::less<>> servers;
  for (const std::string& name : world_.names()) servers.emplace(name, cluster_url(name));
  world_.set_secrets(std::make_shared<ServedSecrets>(std::move(servers), options_.speed, options_.client_access));
  started_ = true;
  listener_ = std::thread([this] {
    http_->listen_after_bind();
    listener_done_ = true;
  });
  // cpp-httplib's stop() does nothing until its accept loop runs: wait for it, so that a stop right
  // after start (a kubeconfig that cannot be written) does not leave the loop running.
  while (!http_->is_running() && !listener_done_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (options_.speed > 0) clock_ = std::thread([this] { run_clock(); });
  return port_;
}

// As the API server's filter chain: authentication, then the faults (its max-in-flight filter), then
// the handler.
void SimServer::handle(const httplib::Request& request, httplib::Response& response) {
  if (!authenticated(options_.auth, request)) {
    respond_status(response, unauthorized());
    return;
  }
  if (request.path == "/refit/v1/exec") {
    // Not a Kubernetes request, so no API faults: a tool model (the vendor CLI and its cloud, whose
    // failures the scenario's `faults` describe), answered when its duration has passed in the world.
    try {
      handle_exec(world_, options_.speed, request, response);
    } catch (const StatusError& e) {
      respond_status(response, e);
    }
    return;
  }
  std::optional<std::int64_t> watch_lifetime_ms;
  if (options_.faults && request.path != "/refit/v1/dump") {
    FaultOutcome outcome = apply_faults(*options_.faults, request, response);
    if (outcome.answered) return;
    watch_lifetime_ms = outcome.watch_lifetime_ms;
  }
  route(world_, fmt::format("{}:{}", options_.host, port_), request, response, watch_lifetime_ms);
}

// The virtual clock follows the wall clock: virtual = start + elapsed wall time x speed. Models run
// their due events under the world's lock, like any request.
void SimServer::run_clock() {
  auto wall_origin = std::chrono::steady_clock::now();
  std::int64_t virtual_origin = 0;
  {
    auto lock = world_.lock();
    virtual_origin = runtime_.now();
  }
  std::unique_lock wait_lock(clock_mutex_);
  while (!stopping_) {
    clock_wake_.wait_for(wait_lock, kClockTick, [this] { return stopping_; });
    if (stopping_) break;
    wait_lock.unlock();
    auto wall_now = std::chrono::steady_clock::now();
    auto elapsed = std::chrono::duration<double, std::milli>(wall_now - wall_origin).count();
    auto target = virtual_origin + static_cast<std::int64_t>(elapsed * options_.speed);
    bool failed = false;
    {
      auto lock = world_.lock();
      try {
        if (target > runtime_.now()) {
          world_.advance_to(target);
        } else if (target < runtime_.now()) {
          // A tool model let time pass on its own (eksctl waiting for a node group): the clock goes
          // on from there at the wall clock's pace, rather than standing still until it catches up.
          virtual_origin = runtime_.now();
          wall_origin = wall_now;
        }
      } catch (const std::exception&) {
        failed = true;  // world_.failure() says why; the server answers 500 from now on
      }
    }
    wait_lock.lock();
    if (failed) break;
  }
}

void SimServer::stop() {
  if (!started_) return;
  started_ = false;
  {
    std::lock_guard lock(clock_mutex_);
    stopping_ = true;
  }
  clock_wake_.notify_all();
  world_.hub().stop();
  http_->stop();
  shut_down_connections(port_);
  if (listener_.joinable()) listener_.join();
  if (clock_.joinable()) clock_.join();
}

}  // namespace refit::serve
