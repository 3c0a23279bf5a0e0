// One cluster's HTTP connection for the Kubernetes API client: a libcurl easy handle set up from an
// Endpoint (TLS material from memory, insecure-skip-tls-verify, tls-server-name, proxy, HTTP/2 when the
// server offers it over TLS) that keeps its connections alive between requests. It sends one request
// at a time and knows nothing of Kubernetes beyond credentials: retries and error messages are the
// caller's (api_transport.hpp, api_errors.hpp).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cluster/kube/endpoint.hpp"

typedef void CURL;
struct curl_slist;

namespace refit::kube {

// Receives what the user should hear about but that is no error: insecure-skip-tls-verify in use,
// the server's Warning headers (deprecated APIs), waits that fall back to polling. The engine turns
// each into an event. Messages never hold a secret.
using WarningSink = std::function<void(const std::string& message)>;

struct HttpRequest {
  std::string_view method = "GET";  // GET, POST, PUT, PATCH, DELETE
  std::string target;               // path and query below the server URL: "/api/v1/namespaces/a/pods?limit=500"
  std::string_view content_type;    // of `body`; empty when there is none
  std::string body;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::optional<std::int64_t> retry_after_ms;  // the Retry-After header, when the server sent one
};

// No HTTP response came. The message names the cluster, its server URL and curl's reason; it never
// holds a credential.
class TransportError : public std::runtime_error {
 public:
  enum class Stage {
    NotSent,  // the request never left (name resolution, connection refused, TLS handshake): safe to repeat
    Lost,     // the request may have reached the server (connection dropped or timed out mid-request)
    Fatal,    // a configuration problem that repeating cannot mend (certificate not trusted, unusable key)
  };
  TransportError(Stage stage, const std::string& message) : std::runtime_error(message), stage(stage) {}
  Stage stage;
};

struct HttpOptions {
  std::int64_t connect_timeout_ms = 15'000;
  std::int64_t request_timeout_ms = 60'000;  // whole request; 0 = none (watch streams set their own)
};

class HttpClient {
 public:
  // Warns through `warn` at once when the endpoint skips TLS verification. Throws TransportError
  // (Fatal) when the server URL cannot be used.
  HttpClient(Endpoint endpoint, WarningSink warn, HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and returns the response, whatever its status. A 401 to a request that carried
  // credentials makes them drop what they cached, and the request is sent once more with fresh ones. Throws TransportError
  // when no response came, CredentialError when the credentials cannot be had.
  HttpResponse perform(const HttpRequest& request);

  // Sets up `handle` (another easy handle, e.g. a watch stream's) like this client's own for a GET of
  // `target`: URL, TLS, proxy, credentials, headers. `headers` receives the list the handle uses:
  // the caller frees it (curl_slist_free_all) after the transfer.
  void setup(CURL* handle, const HttpRequest& request, curl_slist** headers);

  // The classification and message for a transfer of `handle` that ended in `code` (not CURLE_OK);
  // `detail` is the handle's CURLOPT_ERRORBUFFER text, when it has one.
  TransportError transport_error(CURL* handle, int code, std::string_view detail) const;

  // Passes a response's Warning header line to the warning sink, once per distinct text.
  void note_header(std::string_view line);

  const Endpoint& endpoint() const { return endpoint_; }
  // `cluster "c" (context "x", https://host:6443)`: names the endpoint in messages, without secrets.
  const std::string& where() const { return where_; }
  // How many requests this client sent, retries and 401 repeats included.
  std::uint64_t requests_sent() const { return requests_sent_; }
  void count_request() { ++requests_sent_; }

 private:
  void configure_connection(CURL* handle);  // what every request of this endpoint shares
  void apply_credentials(CURL* handle, curl_slist** headers);
  std::string redact(std::string text) const;

  Endpoint endpoint_;
  WarningSink warn_;
  HttpOptions options_;
  CURL* easy_ = nullptr;
  std::string url_prefix_;        // the server URL, with the host replaced by tls-server-name when set
  std::string host_header_;       // "Host: <server's host:port>" when tls-server-name is set
  curl_slist* connect_to_ = nullptr;
  std::string where_;
  std::string last_token_;        // only to scrub it from curl's messages, should one ever echo it
  std::string proxy_password_;    // the same, for a proxy URL with credentials
  std::set<std::string> warned_;  // Warning header texts already passed on
  std::uint64_t requests_sent_ = 0;
  bool presented_credentials_ = false;  // whether the last request of easy_ carried a token or certificate
  char error_buffer_[256] = {};
};

// Percent-encodes `text` for a URL path segment or query value (RFC 3986 unreserved characters stay).
std::string url_encode(std::string_view text);

// The server URL without user information ("https://user:pw@host" -> "https://host"), for messages.
std::string displayable_url(std::string_view url);

}  // namespace refit::kube
