// The served world's certificates: what they are (CA, server, client), that they chain, and that a
// real TLS server and client (cpp-httplib's SSLServer, libcurl as the kube backend uses it) accept
// and refuse them as a Kubernetes API server would.
#include <catch2/catch.hpp>
#include <curl/curl.h>
#include <httplib.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "serve/tls_certs.hpp"

using namespace refit::serve;

namespace {

// The generated key pairs, made once: key generation is the slow part.
const ServingCertificates& served() {
  static const ServingCertificates certs = generate_serving_certificates();
  return certs;
}

X509Ptr cert_of(const CertifiedKey& ck) { return parse_certificate(ck.cert_pem, "test certificate"); }

std::string subject_of(X509* cert) {
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

// Seconds from now to `t` (negative: in the past).
long seconds_from_now(const ASN1_TIME* t) {
  int days = 0, secs = 0;
  REQUIRE(ASN1_TIME_diff(&days, &secs, nullptr, t) == 1);
  return days * 86400L + secs;
}

// An httplib server on an ephemeral loopback port, listening on its own thread until destroyed.
class RunningServer {
 public:
  explicit RunningServer(std::unique_ptr<httplib::SSLServer> server) : server_(std::move(server)) {
    REQUIRE(server_->is_valid());
    server_->Get("/whoami", [this](const httplib::Request& req, httplib::Response& res) {
      ++handled;
      auto id = peer_identity(req.ssl);
      std::string text = "anonymous";
      if (id) {
        text = "user=" + id->user + " groups=";
        for (std::size_t i = 0; i < id->groups.size(); ++i) text += (i ? "," : "") + id->groups[i];
      }
      res.set_content(text, "text/plain");
    });
    port = server_->bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() only stops a server that has started listening: wait (bounded) until it has.
    for (int i = 0; i < 500 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(server_->is_running());
  }
  ~RunningServer() {
    server_->stop();
    thread_.join();
  }
  int port = 0;
  std::atomic<int> handled{0};

 private:
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
};

struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
};

enum class Tls { Default, V12 };

// A GET as the kube backend makes it: CA and client certificate from memory. With TLS 1.2 a refused
// client certificate fails the handshake itself (CURLE_SSL_CONNECT_ERROR); with TLS 1.3 the client
// finishes its part first and learns of the refusal when it sends or reads.
CurlResult curl_get(int port, const std::string& ca_pem, const CertifiedKey* client, Tls tls = Tls::Default) {
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  CurlResult out;
  std::string url = "https://127.0.0.1:" + std::to_string(port) + "/whoami";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  if (tls == Tls::V12) {
    long version = static_cast<long>(CURL_SSLVERSION_TLSv1_2) | CURL_SSLVERSION_MAX_TLSv1_2;
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, version);
  }
  curl_blob ca{const_cast<char*>(ca_pem.data()), ca_pem.size(), CURL_BLOB_COPY};
  curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
  curl_blob cert{}, key{};
  if (client) {
    cert = {const_cast<char*>(client->cert_pem.data()), client->cert_pem.size(), CURL_BLOB_COPY};
    key = {const_cast<char*>(client->key_pem.data()), client->key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  }
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* body) {
    static_cast<std::string*>(body)->append(data, size * n);
    return size * n;
  });
  out.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  curl_easy_cleanup(curl);
  return out;
}

// The server that requires a client certificate, through httplib's own client-CA constructor.
std::unique_ptr<httplib::SSLServer> requiring_server() {
  X509Ptr cert = cert_of(served().server);
  PkeyPtr key = parse_private_key(served().server.key_pem, "test key");
  // The SSL_CTX holds its own references to the certificate and key, and takes the store.
  return std::make_unique<httplib::SSLServer>(cert.get(), key.get(), make_trust_store(served().ca.cert_pem).release());
}

std::unique_ptr<httplib::SSLServer> configured_server(ClientCertificates mode) {
  return std::make_unique<httplib::SSLServer>([mode](SSL_CTX& ctx) {
    configure_server_context(ctx, served().server, served().ca.cert_pem, mode);
    return true;
  });
}

}  // namespace

TEST_CASE("a generated CA is a self-signed CA with an EC P-256 key, valid for a year from an hour ago", "[tls]") {
  X509Ptr ca = cert_of(served().ca);
  CHECK(subject_of(ca.get()) == "/CN=refit-sim-ca");
  CHECK(X509_check_issued(ca.get(), ca.get()) == X509_V_OK);
  CHECK(X509_check_ca(ca.get()) == 1);
  CHECK((X509_get_extension_flags(ca.get()) & EXFLAG_CA) != 0);
  CHECK((X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN) != 0);
  CHECK((X509_get_key_usage(ca.get()) & KU_CRL_SIGN) != 0);
  CHECK_NOTHROW(verify_certificate(served().ca.cert_pem, served().ca.cert_pem));

  PkeyPtr key = parse_private_key(served().ca.key_pem, "CA key");
  char group[64] = {0};
  size_t len = 0;
  REQUIRE(EVP_PKEY_get_group_name(key.get(), group, sizeof group, &len) == 1);
  CHECK(std::string(group) == "prime256v1");
  CHECK(X509_check_private_key(ca.get(), key.get()) == 1);
  CHECK(served().ca.key_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0) == 0);

  // Back-dated one hour, valid for 365 days from then (a few seconds of slack for a slow test run).
  long from = seconds_from_now(X509_get0_notBefore(ca.get()));
  CHECK(from <= -3600);
  CHECK(from > -3600 - 300);
  int days = 0, secs = 0;
  REQUIRE(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca.get()), X509_get0_notAfter(ca.get())) == 1);
  CHECK(days == 365);
  CHECK(secs == 0);
}

TEST_CASE("a server certificate is for 127.0.0.1 and localhost, for serverAuth only, not a CA", "[tls]") {
  X509Ptr cert = cert_of(served().server);
  CHECK(subject_of(cert.get()) == "/CN=refit-sim-apiserver");
  CHECK(X509_check_ca(cert.get()) == 0);
  CHECK(X509_check_ip_asc(cert.get(), "127.0.0.1", 0) == 1);
  CHECK(X509_check_host(cert.get(), "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "127.0.0.2", 0) == 0);
  CHECK(X509_check_host(cert.get(), "example.com", 0, 0, nullptr) == 0);
  CHECK(X509_get_extended_key_usage(cert.get()) == XKU_SSL_SERVER);
  CHECK_NOTHROW(verify_certificate(served().server.cert_pem, served().ca.cert_pem, Purpose::Server));
  CHECK_THROWS_WITH(verify_certificate(served().server.cert_pem, served().ca.cert_pem, Purpose::Client),
                    "certificate CN refit-sim-apiserver does not verify against the CA: "
                    "unsuitable certificate purpose");
}

TEST_CASE("server certificate hosts: IPv4, IPv6 and DNS names; a malformed host is refused", "[tls]") {
  CertifiedKey cert = issue_server_certificate(served().ca, "api", {"10.0.0.1", "::1", "api.example.com"});
  X509Ptr x = cert_of(cert);
  CHECK(X509_check_ip_asc(x.get(), "10.0.0.1", 0) == 1);
  CHECK(X509_check_ip_asc(x.get(), "::1", 0) == 1);
  CHECK(X509_check_host(x.get(), "api.example.com", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(x.get(), "127.0.0.1", 0) == 0);
  CHECK_THROWS_WITH(issue_server_certificate(served().ca, "api", {"a,DNS:evil"}),
                    "\"a,DNS:evil\" is not a host name or IP address for a server certificate");
}

TEST_CASE("a client certificate names the user (CN) and groups (O), for clientAuth only", "[tls]") {
  CertifiedKey client = issue_client_certificate(served().ca, "jane", {"system:masters", "ops"});
  X509Ptr cert = cert_of(client);
  CHECK(subject_of(cert.get()) == "/O=system:masters/O=ops/CN=jane");
  CHECK(X509_check_ca(cert.get()) == 0);
  CHECK(X509_get_extended_key_usage(cert.get()) == XKU_SSL_CLIENT);
  CHECK_NOTHROW(verify_certificate(client.cert_pem, served().ca.cert_pem, Purpose::Client));
  CHECK_THROWS_WITH(verify_certificate(client.cert_pem, served().ca.cert_pem, Purpose::Server),
                    "certificate CN jane does not verify against the CA: unsuitable certificate purpose");
  CHECK(subject_of(cert_of(served().client).get()) == "/O=system:masters/CN=refit-admin");
}

TEST_CASE("a certificate from another CA, or an expired one, does not verify", "[tls]") {
  CertifiedKey other_ca = generate_ca("other-ca");
  CHECK_THROWS_WITH(verify_certificate(served().client.cert_pem, other_ca.cert_pem),
                    "certificate CN refit-admin does not verify against the CA: "
                    "unable to get local issuer certificate");
  CertificateOptions expired;
  expired.not_before_offset_s = -2 * 86400;
  expired.lifetime_s = 86400;
  CertifiedKey old = issue_client_certificate(served().ca, "old", {}, expired);
  CHECK_THROWS_WITH(verify_certificate(old.cert_pem, served().ca.cert_pem),
                    "certificate CN old does not verify against the CA: certificate has expired");
}

TEST_CASE("certificate errors never show key material", "[tls]") {
  // A damaged key: the body of the PEM (secret) must not be echoed.
  std::string key = served().client.key_pem;
  std::string body = key.substr(key.find('\n') + 1, 40);
  std::string damaged = key;
  damaged.replace(key.find('\n') + 10, 8, "!!!!!!!!");
  try {
    parse_private_key(damaged, "the client key");
    FAIL("a damaged key was accepted");
  } catch (const TlsError& e) {
    std::string msg = e.what();
    CHECK(msg.rfind("the client key is not an unencrypted PEM private key: error:", 0) == 0);
    CHECK(msg.find(body.substr(0, 12)) == std::string::npos);
    CHECK(msg.find("PRIVATE KEY") == std::string::npos);
  }
  // A CA certificate with someone else's key.
  CertifiedKey other = generate_ca("other-ca");
  CertifiedKey mixed{served().ca.cert_pem, other.key_pem};
  try {
    issue_client_certificate(mixed, "x", {});
    FAIL("a mismatched CA key was accepted");
  } catch (const TlsError& e) {
    CHECK(std::string(e.what()) == "the CA key does not belong to the CA certificate (CN refit-sim-ca)");
  }
  CHECK_THROWS_WITH(parse_certificate("not a pem", "the server certificate"),
                    Catch::StartsWith("the server certificate is not a PEM certificate: error:"));
  CHECK(ERR_peek_error() == 0);  // the error queue is left empty for the next caller
}

TEST_CASE("TLS handshake: a server requiring client certificates accepts ours and refuses others", "[tls]") {
  RunningServer server(requiring_server());
  const std::string& ca = served().ca.cert_pem;

  CurlResult ok = curl_get(server.port, ca, &served().client);
  CHECK(ok.code == CURLE_OK);
  CHECK(ok.status == 200);
  CHECK(ok.body == "user=refit-admin groups=system:masters");

  // No client certificate, or one from another CA: the server ends the handshake.
  CertifiedKey other_ca = generate_ca("other-ca");
  CertifiedKey stranger = issue_client_certificate(other_ca, "mallory", {"system:masters"});
  CHECK(curl_get(server.port, ca, nullptr, Tls::V12).code == CURLE_SSL_CONNECT_ERROR);
  CHECK(curl_get(server.port, ca, &stranger, Tls::V12).code == CURLE_SSL_CONNECT_ERROR);
  for (const CertifiedKey* client : std::vector<const CertifiedKey*>{nullptr, &stranger}) {
    CurlResult refused = curl_get(server.port, ca, client);
    INFO(curl_easy_strerror(refused.code));
    CHECK(refused.code != CURLE_OK);
    CHECK(refused.status == 0);
  }

  // The client does not trust a server whose certificate another CA signed.
  CurlResult untrusted = curl_get(server.port, other_ca.cert_pem, &served().client);
  CHECK(untrusted.code == CURLE_PEER_FAILED_VERIFICATION);

  CHECK(server.handled == 1);
}

TEST_CASE("TLS handshake: optional client certificates let token clients in and still verify certificates", "[tls]") {
  RunningServer server(configured_server(ClientCertificates::Optional));
  const std::string& ca = served().ca.cert_pem;

  CurlResult anonymous = curl_get(server.port, ca, nullptr);
  CHECK(anonymous.code == CURLE_OK);
  CHECK(anonymous.body == "anonymous");

  CertifiedKey jane = issue_client_certificate(served().ca, "jane", {"dev", "ops"});
  CurlResult named = curl_get(server.port, ca, &jane);
  CHECK(named.code == CURLE_OK);
  CHECK(named.body == "user=jane groups=dev,ops");

  CertifiedKey stranger = issue_client_certificate(generate_ca("other-ca"), "mallory", {"system:masters"});
  CHECK(curl_get(server.port, ca, &stranger, Tls::V12).code == CURLE_SSL_CONNECT_ERROR);
  CurlResult foreign = curl_get(server.port, ca, &stranger);
  CHECK(foreign.code != CURLE_OK);
  CHECK(foreign.status == 0);
  CHECK(server.handled == 2);
}

TEST_CASE("TLS handshake: a required-certificate context from configure_server_context refuses clients without one",
          "[tls]") {
  RunningServer server(configured_server(ClientCertificates::Required));
  CHECK(curl_get(server.port, served().ca.cert_pem, nullptr, Tls::V12).code == CURLE_SSL_CONNECT_ERROR);
  CHECK(curl_get(server.port, served().ca.cert_pem, nullptr).status == 0);
  CurlResult ok = curl_get(server.port, served().ca.cert_pem, &served().client);
  CHECK(ok.code == CURLE_OK);
  CHECK(ok.body == "user=refit-admin groups=system:masters");
  CHECK(server.handled == 1);
}
