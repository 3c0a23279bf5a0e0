// How `refit sim serve` lets clients in and what it hands them: bearer tokens and client certificates
// checked as an API server checks them, token files read as kubectl reads them, the kubeconfig's
// TLS and credential fields; and how the scenario's API faults see a request (its verb and
// resource) and answer it.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include "cluster/kube/base64.hpp"
#include "data/yaml.hpp"
#include "serve/api_auth.hpp"
#include "serve/fault_filter.hpp"
#include "serve/kubeconfig_writer.hpp"

using namespace refit::serve;
using nlohmann::json;

namespace {

httplib::Request request(const std::string& method, const std::string& path,
                         std::initializer_list<std::pair<std::string, std::string>> params = {}) {
  httplib::Request r;
  r.method = method;
  r.path = path;
  for (const auto& [k, v] : params) r.params.emplace(k, v);
  return r;
}

httplib::Request with_authorization(const std::string& value) {
  httplib::Request r = request("GET", "/clusters/demo/version");
  r.headers.emplace("Authorization", value);
  return r;
}

std::string temp_file(const std::string& name, const std::string& content) {
  std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/refit-test-" + name;
  std::ofstream(path) << content;
  return path;
}

std::string token_file_error(const std::string& path) {
  try {
    read_token_file(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string info(const httplib::Request& r) {
  RequestInfo i = request_info(r);
  return i.verb + " " + i.resource + (i.subresource.empty() ? "" : "/" + i.subresource);
}

}  // namespace

TEST_CASE("serve auth: only the configured token, as a bearer token in any case of the scheme", "[serve][auth]") {
  Authentication auth{true, false, "s3cr3t-token"};
  CHECK(authenticated(auth, with_authorization("Bearer s3cr3t-token")));
  CHECK(authenticated(auth, with_authorization("bearer s3cr3t-token")));
  CHECK_FALSE(authenticated(auth, with_authorization("Bearer s3cr3t-tokeN")));
  CHECK_FALSE(authenticated(auth, with_authorization("Bearer s3cr3t-token2")));
  CHECK_FALSE(authenticated(auth, with_authorization("Basic s3cr3t-token")));
  CHECK_FALSE(authenticated(auth, with_authorization("Bearer ")));
  CHECK_FALSE(authenticated(auth, request("GET", "/clusters/demo/version")));

  // Client certificates only: a token is no credential, and without TLS there is no certificate.
  Authentication certificates{true, true, ""};
  CHECK_FALSE(authenticated(certificates, with_authorization("Bearer s3cr3t-token")));
  CHECK_FALSE(authenticated(certificates, with_authorization("Bearer ")));
  // Plain HTTP: everyone.
  CHECK(authenticated(Authentication{}, request("GET", "/clusters/demo/version")));

  StatusError refused = unauthorized();
  CHECK(refused.code == 401);
  CHECK(failure_status(refused) == json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
    "status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})"));
}

TEST_CASE("serve auth: random tokens are 64 hex digits, never the same twice", "[serve][auth]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string token = random_token();
    CHECK(token.size() == 64);
    CHECK(token.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(token);
  }
  CHECK(seen.size() == 100);
}

TEST_CASE("serve auth: a token file holds one word; errors name the file, never its content", "[serve][auth]") {
  CHECK(read_token_file(temp_file("token-1", "  abc.def-123\n\n")) == "abc.def-123");
  std::string two = temp_file("token-2", "first-9f1c second-9f1c\n");
  CHECK(token_file_error(two) == "the token file " + two +
                                     " holds more than one token (or a control character): a bearer token is one "
                                     "word on one line");
  std::string empty = temp_file("token-3", " \n");
  CHECK(token_file_error(empty) == "the token file " + empty + " is empty: write the token into it");
  CHECK(token_file_error("/nonexistent/token") ==
        "cannot read the token file /nonexistent/token: No such file or directory");
}

TEST_CASE("serve kubeconfig: the CA on each cluster, the credentials on each user, base64 as kubectl reads them",
          "[serve][kubeconfig]") {
  std::vector<ServedCluster> clusters{{"a", "https://127.0.0.1:1/clusters/a"}, {"b", "https://127.0.0.1:1/clusters/b"}};
  ClientAccess access{"CA PEM\n", "CERT PEM\n", "KEY PEM\n", ""};
  json doc = kubeconfig_document(clusters, "b", 60, access);
  for (int i = 0; i < 2; ++i) {
    CHECK(doc["clusters"][i]["cluster"]["certificate-authority-data"] == refit::kube::encode_base64("CA PEM\n"));
    CHECK(doc["users"][i]["user"] == json{{"client-certificate-data", refit::kube::encode_base64("CERT PEM\n")},
                                          {"client-key-data", refit::kube::encode_base64("KEY PEM\n")}});
  }
  CHECK(doc["current-context"] == "b");

  json token = kubeconfig_document(clusters, "a", 1, ClientAccess{"CA PEM\n", "", "", "t0k3n"});
  CHECK(token["users"][0]["user"] == json{{"token", "t0k3n"}});
  // Plain HTTP: no CA, and an empty user (kubectl wants one).
  json plain = kubeconfig_document(clusters, "a", 1);
  CHECK_FALSE(plain["clusters"][0]["cluster"].contains("certificate-authority-data"));
  CHECK(plain["users"][0]["user"] == json::object());
}

TEST_CASE("serve faults: a request's verb and resource, as the API server names them", "[serve][faults]") {
  CHECK(info(request("GET", "/clusters/demo/api/v1/namespaces/a/pods")) == "list pods");
  CHECK(info(request("GET", "/clusters/demo/api/v1/pods")) == "list pods");
  CHECK(info(request("GET", "/clusters/demo/api/v1/namespaces/a/pods/p")) == "get pods");
  CHECK(info(request("GET", "/clusters/demo/api/v1/namespaces/a/pods", {{"watch", "1"}})) == "watch pods");
  CHECK(info(request("GET", "/clusters/demo/api/v1/namespaces/a/pods/p", {{"watch", "true"}})) == "watch pods");
  CHECK(info(request("GET", "/clusters/demo/api/v1/namespaces/a/pods", {{"watch", "false"}})) == "list pods");
  CHECK(info(request("POST", "/clusters/demo/apis/apps/v1/namespaces/a/deployments")) == "create deployments");
  CHECK(info(request("POST", "/clusters/demo/api/v1/namespaces/a/pods/p/eviction")) == "create pods/eviction");
  CHECK(info(request("PUT", "/clusters/demo/api/v1/nodes/n")) == "update nodes");
  CHECK(info(request("PUT", "/clusters/demo/api/v1/nodes/n/status")) == "update nodes/status");
  CHECK(info(request("GET", "/clusters/demo/api/v1/nodes/n/status")) == "get nodes/status");
  CHECK(info(request("PATCH", "/clusters/demo/apis/apps/v1/namespaces/a/deployments/d/scale")) ==
        "patch deployments/scale");
  CHECK(info(request("DELETE", "/clusters/demo/api/v1/namespaces/a/pods/p")) == "delete pods");
  CHECK(info(request("DELETE", "/clusters/demo/api/v1/namespaces/a/pods")) == "deletecollection pods");
  CHECK(info(request("GET", "/clusters/demo/version")) == "get ");
  CHECK(info(request("GET", "/clusters/demo/apis/apps/v1")) == "get ");
}

TEST_CASE("serve faults: an injected error is answered with its Status and Retry-After; watches get a lifetime",
          "[serve][faults]") {
  auto faults_of = [](const std::string& yaml) {
    return ApiFaults(parse_api_faults(refit::data::parse_yaml(yaml), "s.yaml"), 1);
  };
  ApiFaults always = faults_of("errors: { rate: 1, statuses: [503], retry_after: 3s, verbs: [create] }\n"
                               "watches: { after: 2s }");
  httplib::Response response;
  FaultOutcome refused = apply_faults(always, request("POST", "/clusters/demo/api/v1/namespaces/a/configmaps"), response);
  CHECK(refused.answered);
  CHECK(response.status == 503);
  CHECK(response.get_header_value("Retry-After") == "3");
  json body = json::parse(response.body);
  CHECK(body["reason"] == "ServiceUnavailable");
  CHECK(body["message"] ==
        "the server is currently unable to handle the request (create configmaps; injected by the scenario's "
        "api.errors)");
  CHECK(body["details"]["retryAfterSeconds"] == 3);

  httplib::Response untouched;
  FaultOutcome watch = apply_faults(always, request("GET", "/clusters/demo/api/v1/pods", {{"watch", "1"}}), untouched);
  CHECK_FALSE(watch.answered);
  CHECK(untouched.status == -1);  // left for the handler
  CHECK(watch.watch_lifetime_ms == 2000);
  FaultOutcome list = apply_faults(always, request("GET", "/clusters/demo/api/v1/pods"), untouched);
  CHECK_FALSE(list.answered);
  CHECK_FALSE(list.watch_lifetime_ms);

  // A 500 carries no Retry-After, whatever retry_after says.
  ApiFaults internal = faults_of("errors: { rate: 1, statuses: [500], retry_after: 3s }");
  httplib::Response failed;
  CHECK(apply_faults(internal, request("GET", "/clusters/demo/version"), failed).answered);
  CHECK(failed.status == 500);
  CHECK_FALSE(failed.has_header("Retry-After"));
}
