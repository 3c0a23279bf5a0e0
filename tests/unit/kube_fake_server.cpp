#include "kube_fake_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>

#include "cluster/cluster.hpp"

namespace refit::test {

namespace {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

KeyPtr new_key() {
  KeyPtr key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) throw std::runtime_error("test PKI: cannot generate a key");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) throw std::runtime_error("test PKI: bad extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `common_name`, signed by `issuer_key` (self-signed when issuer is null).
CertPtr new_cert(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key, bool ca, const char* san,
                 const char* usage) {
  static long serial = 1;
  CertPtr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600L * 24 * 365);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  add_extension(cert.get(), signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (ca) add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  if (san != nullptr) add_extension(cert.get(), signer, NID_subject_alt_name, san);
  if (usage != nullptr) add_extension(cert.get(), signer, NID_ext_key_usage, usage);
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    throw std::runtime_error("test PKI: cannot sign");
  }
  return cert;
}

std::string pem_of(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

X509* cert_of(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

EVP_PKEY* key_of(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return key;
}

TestPki make_pki() {
  TestPki pki;
  KeyPtr ca_key = new_key();
  CertPtr ca = new_cert(ca_key.get(), "refit test CA", nullptr, nullptr, true, nullptr, nullptr);
  KeyPtr other_key = new_key();
  CertPtr other = new_cert(other_key.get(), "another CA", nullptr, nullptr, true, nullptr, nullptr);
  KeyPtr server_key = new_key();
  CertPtr server = new_cert(server_key.get(), "kube.test", ca.get(), ca_key.get(), false, "DNS:kube.test", "serverAuth");
  KeyPtr client_key = new_key();
  CertPtr client = new_cert(client_key.get(), "refit-user", ca.get(), ca_key.get(), false, nullptr, "clientAuth");
  pki.ca_pem = pem_of(ca.get());
  pki.other_ca_pem = pem_of(other.get());
  pki.server_cert_pem = pem_of(server.get());
  pki.server_key_pem = pem_of(server_key.get());
  pki.client_cert_pem = pem_of(client.get());
  pki.client_key_pem = pem_of(client_key.get());
  return pki;
}

std::string describe(const httplib::Request& req) {
  std::string line = req.method + " " + req.path;
  char separator = '?';
  for (const auto& [key, value] : req.params) {  // a multimap: sorted by name
    line += separator + key + "=" + value;
    separator = '&';
  }
  return line;
}

}  // namespace

const TestPki& test_pki() {
  static const TestPki pki = make_pki();
  return pki;
}

void WatchFeed::push(const Json& event) {
  std::lock_guard lock(mutex_);
  queue_.push_back(event.dump() + "\n");
  ready_.notify_all();
}

void WatchFeed::end_stream() {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::nullopt);
  ready_.notify_all();
}

void WatchFeed::shutdown() {
  std::lock_guard lock(mutex_);
  shut_down_ = true;
  ready_.notify_all();
}

bool WatchFeed::next(std::string& line) {
  std::unique_lock lock(mutex_);
  ready_.wait(lock, [this] { return shut_down_ || !queue_.empty(); });
  if (shut_down_) return false;
  std::optional<std::string> item = std::move(queue_.front());
  queue_.pop_front();
  if (!item) return false;
  line = std::move(*item);
  return true;
}

FakeApiServer::FakeApiServer() : server_(std::make_unique<httplib::Server>()) {
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
    std::lock_guard lock(mutex_);
    requests_.push_back(describe(req));
    authorizations_.push_back(req.get_header_value("Authorization"));
    return httplib::Server::HandlerResponse::Unhandled;
  });
  feeds_.push_back(&feed_);
}

FakeApiServer::FakeApiServer(Tls tls) : tls_(true) {
  const TestPki& pki = test_pki();
  X509* cert = cert_of(pki.server_cert_pem);
  EVP_PKEY* key = key_of(pki.server_key_pem);
  X509_STORE* clients = nullptr;
  if (tls.require_client_certificate) {
    clients = X509_STORE_new();
    X509* ca = cert_of(pki.ca_pem);
    X509_STORE_add_cert(clients, ca);
    X509_free(ca);
  }
  server_ = std::make_unique<httplib::SSLServer>(cert, key, clients);
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!server_->is_valid()) throw std::runtime_error("the fake TLS server could not be set up");
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
    std::lock_guard lock(mutex_);
    requests_.push_back(describe(req));
    authorizations_.push_back(req.get_header_value("Authorization"));
    return httplib::Server::HandlerResponse::Unhandled;
  });
  feeds_.push_back(&feed_);
}

FakeApiServer::~FakeApiServer() {
  for (WatchFeed* feed : feeds_) feed->shutdown();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

bool FakeApiServer::start_on(int port) {
  if (!server_->bind_to_port("127.0.0.1", port)) return false;
  port_ = port;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) std::this_thread::yield();
  return true;
}

void FakeApiServer::start() {
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("the fake API server cannot bind to 127.0.0.1");
  // Bound already: connections queue in the backlog until the thread accepts them.
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() does nothing to a server that is not running yet: wait for it to run, so that it can stop.
  while (!server_->is_running()) std::this_thread::yield();
}

std::string FakeApiServer::url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

std::vector<std::string> FakeApiServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

int FakeApiServer::count(const std::string& prefix) const {
  std::lock_guard lock(mutex_);
  int n = 0;
  for (const std::string& line : requests_) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

std::vector<std::string> FakeApiServer::authorizations() const {
  std::lock_guard lock(mutex_);
  return authorizations_;
}

void FakeApiServer::clear_requests() {
  std::lock_guard lock(mutex_);
  requests_.clear();
  authorizations_.clear();
}

void FakeApiServer::serve_discovery(const std::string& git_version) {
  auto resource = [](const char* name, const char* kind, bool namespaced) {
    return Json{{"name", name}, {"singularName", ""}, {"namespaced", namespaced}, {"kind", kind},
                {"verbs", {"create", "delete", "get", "list", "patch", "update", "watch"}}};
  };
  Json core = {{"kind", "APIResourceList"},
               {"groupVersion", "v1"},
               {"resources",
                {resource("pods", "Pod", true), resource("pods/status", "Pod", true),
                 Json{{"name", "pods/eviction"}, {"namespaced", true}, {"kind", "Eviction"}, {"group", "policy"},
                      {"version", "v1"}, {"verbs", {"create"}}},
                 resource("nodes", "Node", false), resource("namespaces", "Namespace", false),
                 resource("configmaps", "ConfigMap", true), resource("secrets", "Secret", true)}}};
  Json apps = {{"kind", "APIResourceList"},
               {"groupVersion", "apps/v1"},
               {"resources", {resource("deployments", "Deployment", true), resource("deployments/status", "Deployment", true),
                              resource("deployments/scale", "Scale", true)}}};
  cluster::ServerVersion parsed = cluster::parse_server_version(git_version);
  Json version = {{"major", parsed.major}, {"minor", parsed.minor}, {"gitVersion", git_version}};
  server_->Get("/api/v1", [core](const httplib::Request&, httplib::Response& res) { res.set_content(core.dump(), "application/json"); });
  server_->Get("/apis/apps/v1", [apps](const httplib::Request&, httplib::Response& res) { res.set_content(apps.dump(), "application/json"); });
  server_->Get("/version", [version](const httplib::Request&, httplib::Response& res) { res.set_content(version.dump(), "application/json"); });
}

void FakeApiServer::stream(httplib::Response& res, WatchFeed& feed) {
  res.set_chunked_content_provider("application/json", [&feed](size_t, httplib::DataSink& sink) {
    std::string line;
    if (feed.next(line)) return sink.write(line.data(), line.size());
    sink.done();
    return true;
  });
}

std::string status_body(int code, const std::string& reason, const std::string& message, const Json& details) {
  Json status = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Failure"},
                 {"message", message}, {"reason", reason}, {"code", code}};
  if (!details.is_null()) status["details"] = details;
  return status.dump();
}

std::optional<std::string> TestCredentials::bearer_token() {
  ++token_calls;
  if (tokens.empty()) return std::nullopt;
  std::size_t i = std::min<std::size_t>(static_cast<std::size_t>(token_calls - 1), tokens.size() - 1);
  return tokens[i];
}

kube::Endpoint test_endpoint(const std::string& server_url, std::shared_ptr<kube::Credentials> credentials) {
  kube::Endpoint endpoint;
  endpoint.context = "test-context";
  endpoint.cluster = "test-cluster";
  endpoint.server = server_url;
  endpoint.credentials = credentials ? std::move(credentials) : std::make_shared<TestCredentials>();
  return endpoint;
}

kube::RetryClock FakeRetryClock::clock() {
  return kube::RetryClock{[this] { return now; },
                          [this](std::int64_t ms) {
                            sleeps.push_back(ms);
                            if (on_sleep) on_sleep(ms);
                            now += ms;
                          },
                          [this] { return random; }};
}

int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace refit::test
