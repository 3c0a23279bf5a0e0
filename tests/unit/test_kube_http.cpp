// The Kubernetes API client's HTTP layer: TLS from memory (authority, server name, client certificates,
// skipped verification), bearer tokens and the 401 repeat, Warning headers, connection reuse, and that
// no credential reaches a message.
#include <catch2/catch.hpp>

#include "cluster/kube/http_client.hpp"
#include "kube_fake_server.hpp"

using refit::kube::HttpClient;
using refit::kube::HttpRequest;
using refit::kube::TransportError;
using refit::test::FakeApiServer;
using refit::test::TestCredentials;
using refit::test::test_endpoint;
using refit::test::test_pki;

namespace {

HttpRequest get(const std::string& target) {
  HttpRequest request;
  request.target = target;
  return request;
}

void serve_version(FakeApiServer& server) {
  server.routes().Get("/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"major":"1","minor":"29","gitVersion":"v1.29.4"})", "application/json");
  });
}

TransportError transport_error_of(HttpClient& client, const HttpRequest& request) {
  try {
    client.perform(request);
  } catch (const TransportError& error) {
    return error;
  }
  throw std::logic_error("expected a TransportError");
}

}  // namespace

TEST_CASE("kube http: a GET returns status and body, and keeps its connection", "[kube][kube-http]") {
  FakeApiServer server;
  std::set<int> client_ports;
  std::mutex mutex;
  server.routes().Get("/version", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    client_ports.insert(req.remote_port);
    res.set_content(R"({"gitVersion":"v1.29.4"})", "application/json");
  });
  server.start();
  HttpClient client(test_endpoint(server.url()), {});
  for (int i = 0; i < 3; ++i) {
    auto response = client.perform(get("/version"));
    CHECK(response.status == 200);
    CHECK(response.body == R"({"gitVersion":"v1.29.4"})");
  }
  CHECK(client_ports.size() == 1);  // one connection for the three requests
  CHECK(client.requests_sent() == 3);
}

TEST_CASE("kube http: methods, bodies and content types reach the server as given", "[kube][kube-http]") {
  FakeApiServer server;
  std::vector<std::string> seen;
  std::mutex mutex;
  auto record = [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    seen.push_back(req.method + " " + req.get_header_value("Content-Type") + " " + req.body);
    res.set_content("{}", "application/json");
  };
  server.routes().Post("/x", record).Patch("/x", record).Put("/x", record).Delete("/x", record).Get("/x", record);
  server.start();
  HttpClient client(test_endpoint(server.url()), {});
  client.perform({"POST", "/x", "application/json", R"({"a":1})"});
  client.perform({"PATCH", "/x", "application/merge-patch+json", R"({"b":2})"});
  client.perform({"DELETE", "/x", "", ""});
  client.perform({"GET", "/x", "", ""});  // after a POST on the same handle: a plain GET again
  client.perform({"PUT", "/x", "application/json", std::string(5000, 'x')});  // no 100-continue pause
  REQUIRE(seen.size() == 5);
  CHECK(seen[0] == R"(POST application/json {"a":1})");
  CHECK(seen[1] == R"(PATCH application/merge-patch+json {"b":2})");
  CHECK(seen[2] == "DELETE  ");
  CHECK(seen[3] == "GET  ");
  CHECK(seen[4] == "PUT application/json " + std::string(5000, 'x'));
}

TEST_CASE("kube http: the bearer token is asked for each request; a 401 invalidates it and repeats once",
          "[kube][kube-http]") {
  FakeApiServer server;
  server.routes().Get("/version", [](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != "Bearer fresh-token") {
      res.status = 401;
      res.set_content(refit::test::status_body(401, "Unauthorized", "Unauthorized"), "application/json");
      return;
    }
    res.set_content("{}", "application/json");
  });
  server.start();
  auto credentials = std::make_shared<TestCredentials>();
  credentials->tokens = {"stale-token", "fresh-token"};
  HttpClient client(test_endpoint(server.url(), credentials), {});
  auto response = client.perform(get("/version"));
  CHECK(response.status == 200);
  CHECK(credentials->invalidations == 1);
  CHECK(server.authorizations() == std::vector<std::string>{"Bearer stale-token", "Bearer fresh-token"});

  SECTION("a second refusal is the answer: no third request") {
    credentials->tokens = {"wrong"};
    credentials->token_calls = 0;
    server.clear_requests();
    auto refused = client.perform(get("/version"));
    CHECK(refused.status == 401);
    CHECK(server.requests().size() == 2);
    CHECK(credentials->invalidations == 2);
  }
}

TEST_CASE("kube http: a 401 to a request without credentials is not repeated", "[kube][kube-http]") {
  FakeApiServer server;
  server.routes().Get("/version", [](const httplib::Request&, httplib::Response& res) { res.status = 401; });
  server.start();
  auto credentials = std::make_shared<TestCredentials>();  // no token, no certificate
  HttpClient client(test_endpoint(server.url(), credentials), {});
  CHECK(client.perform(get("/version")).status == 401);
  CHECK(server.requests().size() == 1);
  CHECK(credentials->invalidations == 0);
}

TEST_CASE("kube http: Retry-After in seconds is read", "[kube][kube-http]") {
  FakeApiServer server;
  server.routes().Get("/busy", [](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "7");
  });
  server.start();
  HttpClient client(test_endpoint(server.url()), {});
  auto response = client.perform(get("/busy"));
  CHECK(response.status == 429);
  REQUIRE(response.retry_after_ms);
  CHECK(*response.retry_after_ms == 7000);
}

TEST_CASE("kube http: the server's Warning headers become warnings, once each", "[kube][kube-http]") {
  FakeApiServer server;
  server.routes().Get("/apis/policy/v1beta1/podsecuritypolicies", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Warning", R"(299 - "policy/v1beta1 PodSecurityPolicy is deprecated in v1.21+, unavailable in v1.25+")");
    res.set_content("{}", "application/json");
  });
  server.start();
  std::vector<std::string> warnings;
  HttpClient client(test_endpoint(server.url()), [&](const std::string& w) { warnings.push_back(w); });
  client.perform(get("/apis/policy/v1beta1/podsecuritypolicies"));
  client.perform(get("/apis/policy/v1beta1/podsecuritypolicies"));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "context \"test-context\" (" + server.url() +
                           "): the server warns: policy/v1beta1 PodSecurityPolicy is deprecated in v1.21+, "
                           "unavailable in v1.25+");
}

TEST_CASE("kube http: a refused connection is NotSent and names the endpoint", "[kube][kube-http]") {
  int port = refit::test::unused_port();
  auto credentials = std::make_shared<TestCredentials>();
  credentials->tokens = {"s3cr3t-token-value"};
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  HttpClient client(test_endpoint(url, credentials), {});
  TransportError error = transport_error_of(client, get("/version"));
  CHECK(error.stage == TransportError::Stage::NotSent);
  std::string message = error.what();
  CHECK_THAT(message, Catch::StartsWith("cannot reach context \"test-context\" (" + url + "): "));
  CHECK_THAT(message, Catch::Contains("onnect"));  // curl's reason: "Failed to connect ... Connection refused"
  CHECK_THAT(message, !Catch::Contains("s3cr3t"));
}

TEST_CASE("kube http: a connection lost after the request was sent is Lost", "[kube][kube-http]") {
  FakeApiServer server;
  server.routes().Get("/cut", [](const httplib::Request&, httplib::Response& res) {
    // Headers promise 100 bytes; the provider gives up: the connection closes mid-response.
    res.set_content_provider(100, "application/json", [](size_t, size_t, httplib::DataSink&) { return false; });
  });
  server.start();
  HttpClient client(test_endpoint(server.url()), {});
  TransportError error = transport_error_of(client, get("/cut"));
  CHECK(error.stage == TransportError::Stage::Lost);
  CHECK_THAT(std::string(error.what()), Catch::StartsWith("lost the connection to context \"test-context\""));
}

TEST_CASE("kube http: the proxy's password never appears in messages", "[kube][kube-http]") {
  auto endpoint = test_endpoint("http://127.0.0.1:" + std::to_string(refit::test::unused_port()));
  endpoint.proxy_url = "http://refit:pr0xy-pa55@127.0.0.1:" + std::to_string(refit::test::unused_port());
  HttpClient client(endpoint, {});
  TransportError error = transport_error_of(client, get("/version"));
  CHECK(error.stage == TransportError::Stage::NotSent);
  CHECK_THAT(std::string(error.what()), !Catch::Contains("pr0xy-pa55"));
}

TEST_CASE("kube http: the server URL's user information is not shown", "[kube][kube-http]") {
  CHECK(refit::kube::displayable_url("https://admin:hunter2@10.0.0.1:6443/k8s") == "https://10.0.0.1:6443/k8s");
  CHECK(refit::kube::displayable_url("https://10.0.0.1:6443") == "https://10.0.0.1:6443");
  CHECK(refit::kube::displayable_url("http://h/a@b") == "http://h/a@b");
}

TEST_CASE("kube http: url_encode keeps unreserved characters only", "[kube][kube-http]") {
  CHECK(refit::kube::url_encode("app in (a,b),tier!=db") == "app%20in%20%28a%2Cb%29%2Ctier%21%3Ddb");
  CHECK(refit::kube::url_encode("metadata.name=core-dns_1~") == "metadata.name%3Dcore-dns_1~");
}

TEST_CASE("kube http: TLS with the kubeconfig's certificate authority", "[kube][kube-http][kube-tls]") {
  FakeApiServer server(FakeApiServer::Tls{});
  serve_version(server);
  server.start();
  auto endpoint = test_endpoint(server.url());
  endpoint.ca_pem = test_pki().ca_pem;

  SECTION("the certificate names kube.test: tls-server-name makes it match while connecting to 127.0.0.1") {
    endpoint.tls_server_name = "kube.test";
    HttpClient client(endpoint, {});
    CHECK(client.perform(get("/version")).status == 200);
    CHECK(client.perform(get("/version")).status == 200);
  }

  SECTION("without tls-server-name the name does not match: a Fatal error that says what to check") {
    HttpClient client(endpoint, {});
    TransportError error = transport_error_of(client, get("/version"));
    CHECK(error.stage == TransportError::Stage::Fatal);
    CHECK_THAT(std::string(error.what()),
               Catch::StartsWith("cannot reach context \"test-context\" (" + server.url() +
                                 "): the server's certificate is not trusted ("));
    CHECK_THAT(std::string(error.what()), Catch::EndsWith("check the cluster's certificate-authority in the kubeconfig "
                                                          "(or its tls-server-name, when the certificate names another "
                                                          "host)"));
  }

  SECTION("another authority does not trust it, and the system's are not consulted") {
    endpoint.ca_pem = test_pki().other_ca_pem;
    endpoint.tls_server_name = "kube.test";
    HttpClient client(endpoint, {});
    CHECK(transport_error_of(client, get("/version")).stage == TransportError::Stage::Fatal);
  }

  SECTION("insecure-skip-tls-verify connects, with a warning given at once") {
    endpoint.ca_pem.clear();
    endpoint.insecure_skip_tls_verify = true;
    std::vector<std::string> warnings;
    HttpClient client(endpoint, [&](const std::string& w) { warnings.push_back(w); });
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0] == "context \"test-context\" (" + server.url() +
                             "): insecure-skip-tls-verify is set: the server's certificate is not checked, so anyone "
                             "between refit and the cluster can read and change what is sent (credentials included)");
    CHECK(client.perform(get("/version")).status == 200);
  }
}

TEST_CASE("kube http: a client certificate from the credentials, held in memory", "[kube][kube-http][kube-tls]") {
  FakeApiServer server(FakeApiServer::Tls{true});
  serve_version(server);
  server.start();
  auto credentials = std::make_shared<TestCredentials>();
  auto endpoint = test_endpoint(server.url(), credentials);
  endpoint.ca_pem = test_pki().ca_pem;
  endpoint.tls_server_name = "kube.test";

  SECTION("presented, it is accepted") {
    credentials->certificate = refit::kube::ClientCertificate{test_pki().client_cert_pem, test_pki().client_key_pem};
    HttpClient client(endpoint, {});
    CHECK(client.perform(get("/version")).status == 200);
  }

  SECTION("absent, the server refuses the connection; the error names the endpoint") {
    // Whether curl sees the TLS 1.3 alert or the closed socket first varies: both say "cannot reach".
    HttpClient client(endpoint, {});
    TransportError error = transport_error_of(client, get("/version"));
    CHECK_THAT(std::string(error.what()), Catch::StartsWith("cannot reach context \"test-context\" (" + server.url() + "): "));
  }

  SECTION("an unusable key is a Fatal error that names what to check, not the key") {
    std::string bad_key = "-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5LXNlY3JldC1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n";
    credentials->certificate = refit::kube::ClientCertificate{test_pki().client_cert_pem, bad_key};
    HttpClient client(endpoint, {});
    TransportError error = transport_error_of(client, get("/version"));
    CHECK(error.stage == TransportError::Stage::Fatal);
    CHECK_THAT(std::string(error.what()), Catch::Contains("the client certificate or key cannot be used"));
    CHECK_THAT(std::string(error.what()), !Catch::Contains("bm90LWEta2V5"));
  }
}
