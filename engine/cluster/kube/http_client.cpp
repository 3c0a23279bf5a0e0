#include "cluster/kube/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <memory>
#include <mutex>

#include <fmt/format.h>

namespace refit::kube {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// Retry-After is either seconds or an HTTP date.
std::optional<std::int64_t> parse_retry_after(std::string_view value) {
  value = trim(value);
  std::int64_t seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) return std::max<std::int64_t>(seconds, 0) * 1000;
  std::string date(value);
  time_t at = curl_getdate(date.c_str(), nullptr);
  if (at < 0) return std::nullopt;
  return std::max<std::int64_t>(static_cast<std::int64_t>(at - std::time(nullptr)), 0) * 1000;
}

// The text of a Warning header: `299 - "policy/v1beta1 PodSecurityPolicy is deprecated in v1.21+"`.
std::string warning_text(std::string_view value) {
  value = trim(value);
  auto open = value.find('"');
  auto close = value.rfind('"');
  if (open == std::string_view::npos || close <= open) return std::string(value);
  std::string out;
  for (std::size_t i = open + 1; i < close; ++i) {
    if (value[i] == '\\' && i + 1 < close) ++i;
    out += value[i];
  }
  return out;
}

struct UrlParts {
  std::string scheme, host, port, rest;  // rest: path, without a trailing slash
};

UrlParts split_url(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    throw TransportError(TransportError::Stage::Fatal,
                         fmt::format("the server URL \"{}\" is not a URL: check the cluster's server in the kubeconfig",
                                     displayable_url(url)));
  }
  auto part = [&](CURLUPart which, unsigned flags = 0) {
    char* value = nullptr;
    std::string out;
    if (curl_url_get(u.get(), which, &value, flags) == CURLUE_OK && value != nullptr) out = value;
    curl_free(value);
    return out;
  };
  UrlParts parts{part(CURLUPART_SCHEME), part(CURLUPART_HOST), part(CURLUPART_PORT, CURLU_DEFAULT_PORT),
                 part(CURLUPART_PATH)};
  while (!parts.rest.empty() && parts.rest.back() == '/') parts.rest.pop_back();
  return parts;
}

bool fatal(CURLcode code) {
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_OUT_OF_MEMORY:
      return true;
    default:
      return false;
  }
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<HttpResponse*>(user)->body.append(data, size * count);
  return size * count;
}

struct HeaderContext {
  HttpClient* client;
  HttpResponse* response;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* ctx = static_cast<HeaderContext*>(user);
  std::string_view line(data, size * count);
  if (starts_with_nocase(line, "HTTP/")) {
    ctx->response->retry_after_ms.reset();  // a new response (after a 100 Continue, say)
  } else if (starts_with_nocase(line, "retry-after:")) {
    ctx->response->retry_after_ms = parse_retry_after(line.substr(12));
  } else if (starts_with_nocase(line, "content-length:")) {
    std::string_view value = trim(line.substr(15));
    std::size_t length = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
    // A page of a list can be many megabytes: one allocation instead of a dozen doublings. The 64 bytes
    // more are simdjson's padding (SIMDJSON_PADDING), which it reads past a document's end: with them
    // in the string, a list's page is parsed where it is instead of being copied first.
    if (ec == std::errc() && length < (std::size_t{1} << 31)) ctx->response->body.reserve(length + 64);
  } else {
    ctx->client->note_header(line);
  }
  return size * count;
}

}  // namespace

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string displayable_url(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  auto authority = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", authority);
  auto at = url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < authority) return std::string(url);
  return std::string(url.substr(0, authority)) + std::string(url.substr(at + 1));
}

HttpClient::HttpClient(Endpoint endpoint, WarningSink warn, HttpOptions options)
    : endpoint_(std::move(endpoint)), warn_(std::move(warn)), options_(options) {
  global_init();
  std::string shown = displayable_url(endpoint_.server);
  where_ = endpoint_.context.empty() ? fmt::format("cluster \"{}\" ({})", endpoint_.cluster, shown)
                                     : fmt::format("context \"{}\" ({})", endpoint_.context, shown);
  if (!endpoint_.proxy_url.empty()) {
    auto scheme_end = endpoint_.proxy_url.find("://");
    auto at = endpoint_.proxy_url.find('@');
    auto colon = endpoint_.proxy_url.find(':', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      proxy_password_ = endpoint_.proxy_url.substr(colon + 1, at - colon - 1);
    }
  }

  url_prefix_ = endpoint_.server;
  while (!url_prefix_.empty() && url_prefix_.back() == '/') url_prefix_.pop_back();
  if (!endpoint_.tls_server_name.empty()) {
    // The certificate is checked against tls-server-name (and sent as SNI) while the connection goes to
    // the server URL's host: curl does that when the URL names the TLS name and CONNECT_TO maps it.
    UrlParts parts = split_url(endpoint_.server);
    url_prefix_ = fmt::format("{}://{}:{}{}", parts.scheme, endpoint_.tls_server_name, parts.port, parts.rest);
    bool bare_ipv6 = parts.host.find(':') != std::string::npos && parts.host.front() != '[';
    std::string target_host = bare_ipv6 ? "[" + parts.host + "]" : parts.host;
    std::string mapping = fmt::format("{}:{}:{}:{}", endpoint_.tls_server_name, parts.port, target_host, parts.port);
    connect_to_ = curl_slist_append(nullptr, mapping.c_str());
    host_header_ = fmt::format("Host: {}:{}", target_host, parts.port);
  }

  easy_ = curl_easy_init();
  if (easy_ == nullptr) throw TransportError(TransportError::Stage::Fatal, "cannot start libcurl (curl_easy_init failed)");
  configure_connection(easy_);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_buffer_);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, on_header);
  if (options_.request_timeout_ms > 0) curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout_ms));

  if (endpoint_.insecure_skip_tls_verify && warn_) {
    warn_(fmt::format("{}: insecure-skip-tls-verify is set: the server's certificate is not checked, so anyone "
                      "between refit and the cluster can read and change what is sent (credentials included)",
                      where_));
  }
}

HttpClient::~HttpClient() {
  if (easy_ != nullptr) curl_easy_cleanup(easy_);
  curl_slist_free_all(connect_to_);
}

void HttpClient::configure_connection(CURL* handle) {
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "refit/0.1");
  if (!endpoint_.ca_pem.empty()) {
    curl_blob ca{const_cast<char*>(endpoint_.ca_pem.data()), endpoint_.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(handle, CURLOPT_CAINFO_BLOB, &ca);
    // The kubeconfig's authority only, as kubectl: not also the system's.
    curl_easy_setopt(handle, CURLOPT_CAINFO, nullptr);
    curl_easy_setopt(handle, CURLOPT_CAPATH, nullptr);
  }
  if (endpoint_.insecure_skip_tls_verify) {
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (connect_to_ != nullptr) curl_easy_setopt(handle, CURLOPT_CONNECT_TO, connect_to_);
  if (!endpoint_.proxy_url.empty()) curl_easy_setopt(handle, CURLOPT_PROXY, endpoint_.proxy_url.c_str());
}

void HttpClient::setup(CURL* handle, const HttpRequest& request, curl_slist** headers) {
  if (handle != easy_) configure_connection(handle);
  std::string url = url_prefix_ + request.target;
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());

  // Reset to a GET first: the handle is reused, and a POST's body must not linger.
  curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, nullptr);
  if (request.method != "GET") {
    if (request.method != "DELETE" || !request.body.empty()) {
      curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data());
    }
    std::string method(request.method);
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method.c_str());  // curl copies option strings
  }

  *headers = curl_slist_append(*headers, "Accept: application/json");
  // curl would wait for a 100 Continue before sending a large body; the API server never asks for one.
  *headers = curl_slist_append(*headers, "Expect:");
  if (!request.content_type.empty()) {
    *headers = curl_slist_append(*headers, fmt::format("Content-Type: {}", request.content_type).c_str());
  }
  if (!host_header_.empty()) *headers = curl_slist_append(*headers, host_header_.c_str());
  apply_credentials(handle, headers);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, *headers);
}

void HttpClient::apply_credentials(CURL* handle, curl_slist** headers) {
  presented_credentials_ = false;
  if (!endpoint_.credentials) return;
  if (auto token = endpoint_.credentials->bearer_token(); token && !token->empty()) {
    presented_credentials_ = true;
    last_token_ = *token;
    std::string header = "Authorization: Bearer " + *token;
    *headers = curl_slist_append(*headers, header.c_str());
    std::fill(header.begin(), header.end(), '\0');
  }
  if (auto cert = endpoint_.credentials->client_certificate()) {
    presented_credentials_ = true;
    curl_blob cert_blob{cert->cert_pem.data(), cert->cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key_blob{cert->key_pem.data(), cert->key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(handle, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(handle, CURLOPT_SSLCERT_BLOB, &cert_blob);
    curl_easy_setopt(handle, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(handle, CURLOPT_SSLKEY_BLOB, &key_blob);
    std::fill(cert->key_pem.begin(), cert->key_pem.end(), '\0');
  }
}

HttpResponse HttpClient::perform(const HttpRequest& request) {
  for (int attempt = 0;; ++attempt) {
    HttpResponse response;
    HeaderContext header_context{this, &response};
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, &header_context);
    curl_slist* headers = nullptr;
    error_buffer_[0] = '\0';
    try {
      setup(easy_, request, &headers);
    } catch (...) {
      curl_slist_free_all(headers);
      throw;
    }
    CURLcode code = curl_easy_perform(easy_);
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    ++requests_sent_;
    if (code != CURLE_OK) throw transport_error(easy_, code, error_buffer_);
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &response.status);
    // A refused credential may be a rotated token or an expired plugin credential: ask once more.
    if (response.status == 401 && attempt == 0 && presented_credentials_) {
      endpoint_.credentials->invalidate();
      continue;
    }
    return response;
  }
}

std::string HttpClient::protocol() const {
  long version = 0;
  if (curl_easy_getinfo(easy_, CURLINFO_HTTP_VERSION, &version) != CURLE_OK) return "";
  switch (version) {
    case CURL_HTTP_VERSION_1_0: return "HTTP/1.0";
    case CURL_HTTP_VERSION_1_1: return "HTTP/1.1";
    case CURL_HTTP_VERSION_2_0: return "HTTP/2";
    case CURL_HTTP_VERSION_3: return "HTTP/3";
    default: return "";
  }
}

TransportError HttpClient::transport_error(CURL* handle, int raw_code, std::string_view detail) const {
  auto code = static_cast<CURLcode>(raw_code);
  std::string reason = redact(detail.empty() ? std::string(curl_easy_strerror(code)) : std::string(detail));
  if (fatal(code)) {
    std::string message;
    if (code == CURLE_PEER_FAILED_VERIFICATION) {
      message = fmt::format("cannot reach {}: the server's certificate is not trusted ({}): check the cluster's "
                            "certificate-authority in the kubeconfig (or its tls-server-name, when the certificate "
                            "names another host)", where_, reason);
    } else if (code == CURLE_SSL_CERTPROBLEM) {
      message = fmt::format("cannot reach {}: the client certificate or key cannot be used ({}): check the user's "
                            "client-certificate and client-key in the kubeconfig", where_, reason);
    } else {
      message = fmt::format("cannot reach {}: {}", where_, reason);
    }
    return TransportError(TransportError::Stage::Fatal, message);
  }
  // With TLS 1.3 the server refuses a client certificate after the handshake, so curl sees it on reading.
  for (std::string_view alert : {"alert certificate required", "alert bad certificate", "alert unknown ca",
                                 "alert certificate expired", "alert certificate revoked"}) {
    if (reason.find(alert) != std::string::npos) {
      return TransportError(TransportError::Stage::Fatal,
                            fmt::format("cannot reach {}: the server refused the client certificate ({}): check the "
                                        "user's client-certificate and client-key in the kubeconfig", where_, reason));
    }
  }
  long request_size = 0;
  curl_easy_getinfo(handle, CURLINFO_REQUEST_SIZE, &request_size);
  auto stage = request_size == 0 ? TransportError::Stage::NotSent : TransportError::Stage::Lost;
  std::string what = stage == TransportError::Stage::NotSent ? "cannot reach" : "lost the connection to";
  return TransportError(stage, fmt::format("{} {}: {}", what, where_, reason));
}

void HttpClient::note_header(std::string_view line) {
  if (!starts_with_nocase(line, "warning:") || !warn_) return;
  std::string text = warning_text(line.substr(8));
  if (text.empty() || !warned_.insert(text).second) return;
  warn_(fmt::format("{}: the server warns: {}", where_, redact(text)));
}

std::string HttpClient::redact(std::string text) const {
  for (const std::string* secret : {&last_token_, &proxy_password_}) {
    if (secret->empty()) continue;
    for (auto at = text.find(*secret); at != std::string::npos; at = text.find(*secret, at + 3)) {
      text.replace(at, secret->size(), "***");
    }
  }
  return text;
}

}  // namespace refit::kube
