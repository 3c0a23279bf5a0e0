// When the Kubernetes API client repeats a request, checked against a fake server that counts them:
// 429 and 5xx-with-Retry-After and refused connections repeat any request; a 5xx without Retry-After
// and a connection lost mid-request repeat only idempotent ones; never a create or a JSON patch
// blindly. Pauses grow exponentially with jitter, honour Retry-After, and are bounded.
#include <catch2/catch.hpp>

#include <atomic>

#include "cluster/kube/api_transport.hpp"
#include "cluster/kube/kube_cluster.hpp"
#include "kube_fake_server.hpp"

using refit::kube::ApiTransport;
using refit::kube::HttpClient;
using refit::kube::KubeCluster;
using refit::kube::KubeClusterOptions;
using refit::kube::may_retry;
using refit::kube::RetryPolicy;
using refit::kube::retry_delay_ms;
using refit::kube::SendRules;
using refit::kube::TransportError;
using refit::test::api_error_of;
using refit::test::FakeApiServer;
using refit::test::FakeRetryClock;
using refit::test::Json;
using refit::test::status_body;
using refit::test::test_endpoint;

namespace {

const refit::kube::RequestSubject kSubject{"create", "ConfigMap", "default", "settings", "configmaps", ""};

// Answers with each of `statuses` in turn (then 200/201 with an object), with Retry-After when
// `retry_after` is not empty.
struct Script {
  std::vector<int> statuses;
  std::string retry_after;
  std::atomic<int> calls{0};

  void answer(const httplib::Request& req, httplib::Response& res) {
    int i = calls++;
    if (i < static_cast<int>(statuses.size())) {
      res.status = statuses[static_cast<std::size_t>(i)];
      if (!retry_after.empty()) res.set_header("Retry-After", retry_after);
      res.set_content(status_body(res.status, res.status == 429 ? "TooManyRequests" : "InternalError", "try later"),
                      "application/json");
      return;
    }
    res.status = req.method == "POST" ? 201 : 200;
    res.set_content(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"default"}})",
                    "application/json");
  }
};

struct RetryFixture {
  FakeApiServer server;
  FakeRetryClock clock;
  Script script;
  std::unique_ptr<KubeCluster> cluster;

  RetryFixture() {
    server.serve_discovery();
    auto handler = [this](const httplib::Request& req, httplib::Response& res) { script.answer(req, res); };
    server.routes()
        .Post("/api/v1/namespaces/default/configmaps", handler)
        .Get("/api/v1/namespaces/default/configmaps/settings", handler)
        .Patch("/api/v1/namespaces/default/configmaps/settings", handler)
        .Put("/api/v1/namespaces/default/configmaps/settings", handler)
        .Delete("/api/v1/namespaces/default/configmaps/settings", handler)
        .Post("/api/v1/namespaces/default/pods/web-1/eviction", handler);
    server.start();
    KubeClusterOptions options;
    options.clock = clock.clock();
    cluster = std::make_unique<KubeCluster>("prod", test_endpoint(server.url()), options);
  }

  int count(const std::string& prefix) const { return server.count(prefix); }
};

Json configmap() {
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "settings"}, {"namespace", "default"}}},
          {"data", {{"a", "1"}}}};
}

const refit::kube::ObjectRef kSettings{"v1", "ConfigMap", "default", "settings"};

void ignore_stored(const Json&) {}

}  // namespace

TEST_CASE("kube retry: the rules", "[kube][kube-retry]") {
  SendRules create{false};
  SendRules get{true};
  SendRules eviction{false, false};
  CHECK(may_retry(429, false, create));
  CHECK(may_retry(429, true, create));
  CHECK(may_retry(503, true, create));
  CHECK_FALSE(may_retry(503, false, create));
  CHECK(may_retry(503, false, get));
  CHECK(may_retry(500, false, get));
  CHECK_FALSE(may_retry(404, false, get));
  CHECK_FALSE(may_retry(409, false, get));
  CHECK_FALSE(may_retry(429, false, eviction));  // a disruption budget's answer
  CHECK(may_retry(429, true, eviction));          // the server's throttling
  CHECK(may_retry(TransportError::Stage::NotSent, create));
  CHECK_FALSE(may_retry(TransportError::Stage::Lost, create));
  CHECK(may_retry(TransportError::Stage::Lost, get));
  CHECK_FALSE(may_retry(TransportError::Stage::Fatal, get));
}

TEST_CASE("kube retry: exponential pauses with jitter, capped; Retry-After as given", "[kube][kube-retry]") {
  RetryPolicy policy;  // 250 ms doubling to 8 s
  CHECK(retry_delay_ms(policy, 1, 0.0, std::nullopt) == 125);
  CHECK(retry_delay_ms(policy, 1, 0.999, std::nullopt) == 249);
  CHECK(retry_delay_ms(policy, 2, 0.0, std::nullopt) == 250);
  CHECK(retry_delay_ms(policy, 3, 0.5, std::nullopt) == 750);
  CHECK(retry_delay_ms(policy, 6, 0.0, std::nullopt) == 4000);
  CHECK(retry_delay_ms(policy, 30, 0.5, std::nullopt) == 6000);
  CHECK(retry_delay_ms(policy, 1, 0.5, 7000) == 7000);
}

TEST_CASE("kube retry: a 429 repeats even a create, after the Retry-After pause", "[kube][kube-retry]") {
  RetryFixture f;
  f.script.statuses = {429, 429};
  f.script.retry_after = "2";
  f.cluster->create(configmap(), ignore_stored);
  CHECK(f.count("POST /api/v1/namespaces/default/configmaps") == 3);
  CHECK(f.clock.sleeps == std::vector<std::int64_t>{2000, 2000});
}

TEST_CASE("kube retry: a 429 without Retry-After repeats a create after backoff", "[kube][kube-retry]") {
  RetryFixture f;
  f.script.statuses = {429};
  f.cluster->create(configmap(), ignore_stored);
  CHECK(f.count("POST ") == 2);
  CHECK(f.clock.sleeps == std::vector<std::int64_t>{187});
}

TEST_CASE("kube retry: a 503 with Retry-After repeats a create", "[kube][kube-retry]") {
  RetryFixture f;
  f.script.statuses = {503};
  f.script.retry_after = "1";
  f.cluster->create(configmap(), ignore_stored);
  CHECK(f.count("POST ") == 2);
  CHECK(f.clock.sleeps == std::vector<std::int64_t>{1000});
}

TEST_CASE("kube retry: a 5xx without Retry-After never repeats a create", "[kube][kube-retry]") {
  RetryFixture f;
  f.script.statuses = {500};
  auto error = api_error_of([&] { f.cluster->create(configmap(), ignore_stored); });
  CHECK(error.status == 500);
  CHECK(f.count("POST ") == 1);
  CHECK(f.clock.sleeps.empty());
  CHECK(std::string(error.what()) == "create ConfigMap default/settings failed on context \"test-context\" (" +
                                         f.server.url() + "): the server answered 500 InternalError: try later");
}

TEST_CASE("kube retry: a 5xx without Retry-After repeats idempotent requests", "[kube][kube-retry]") {
  RetryFixture f;
  f.script.statuses = {503, 500};

  SECTION("get") {
    CHECK(f.cluster->get(kSettings, ignore_stored));
    CHECK(f.count("GET /api/v1/namespaces/default/configmaps/settings") == 3);
    CHECK(f.clock.sleeps == std::vector<std::int64_t>{187, 375});
  }
  SECTION("merge patch") {
    f.cluster->merge_patch(kSettings, {{"data", {{"a", "2"}}}}, ignore_stored);
    CHECK(f.count("PATCH ") == 3);
  }
  SECTION("strategic-merge patch") {
    f.cluster->strategic_patch(kSettings, {{"data", {{"a", "2"}}}}, ignore_stored);
    CHECK(f.count("PATCH ") == 3);
  }
  SECTION("server-side apply") {
    f.cluster->apply(configmap(), {}, ignore_stored);
    CHECK(f.count("PATCH ") == 3);
  }
  SECTION("a replace with a resourceVersion") {
    Json object = configmap();
    object["metadata"]["resourceVersion"] = "41";
    f.cluster->replace(object, ignore_stored);
    CHECK(f.count("PUT ") == 3);
  }
  SECTION("delete: the 404 after a failed attempt counts as deleted") {
    f.script.statuses = {503, 404};
    CHECK(f.cluster->remove(kSettings, {}));
    CHECK(f.count("DELETE ") == 2);
  }
}

TEST_CASE("kube retry: a 5xx without Retry-After does not repeat a JSON patch nor an unversioned replace",
          "[kube][kube-retry]") {
  RetryFixture f;
  f.script.statuses = {503};
  SECTION("json patch") {
    Json ops = Json::array({{{"op", "add"}, {"path", "/data/b"}, {"value", "2"}}});
    CHECK(api_error_of([&] { f.cluster->json_patch(kSettings, ops, ignore_stored); }).status == 503);
    CHECK(f.count("PATCH ") == 1);
  }
  SECTION("replace without resourceVersion") {
    CHECK(api_error_of([&] { f.cluster->replace(configmap(), ignore_stored); }).status == 503);
    CHECK(f.count("PUT ") == 1);
  }
}

TEST_CASE("kube retry: attempts are bounded in number and in time", "[kube][kube-retry]") {
  RetryFixture f;
  f.script.statuses = std::vector<int>(20, 503);

  SECTION("six attempts at most") {
    auto error = api_error_of([&] { f.cluster->get(kSettings, ignore_stored); });
    CHECK(error.status == 503);
    CHECK(f.count("GET /api/v1/namespaces/default/configmaps/settings") == 6);
    CHECK(f.clock.sleeps.size() == 5);
    CHECK_THAT(std::string(error.what()), Catch::EndsWith("(after 6 attempts)"));
  }
  SECTION("a Retry-After beyond the time bound ends the retries") {
    f.script.retry_after = "120";
    auto error = api_error_of([&] { f.cluster->create(configmap(), ignore_stored); });
    CHECK(error.status == 503);
    CHECK(f.count("POST ") == 1);
    CHECK(f.clock.sleeps.empty());
  }
}

TEST_CASE("kube retry: an eviction refused by a disruption budget is answered at once", "[kube][kube-retry]") {
  RetryFixture f;
  f.script.statuses = {429};
  refit::kube::ObjectRef pod{"v1", "Pod", "default", "web-1"};
  auto error = api_error_of([&] { f.cluster->evict(pod); });
  CHECK(error.status == 429);
  CHECK(std::string(error.what()) == "try later");
  CHECK(f.count("POST /api/v1/namespaces/default/pods/web-1/eviction") == 1);

  SECTION("throttling (Retry-After) is waited out") {
    f.script.calls = 0;
    f.script.retry_after = "1";
    f.cluster->evict(pod);
    CHECK(f.count("POST /api/v1/namespaces/default/pods/web-1/eviction") == 3);
  }
}

TEST_CASE("kube retry: a connection that could not be made repeats even a create", "[kube][kube-retry]") {
  int port = refit::test::unused_port();
  FakeApiServer server;
  std::atomic<int> posts{0};
  server.routes().Post("/api/v1/namespaces/default/configmaps", [&](const httplib::Request&, httplib::Response& res) {
    ++posts;
    res.status = 201;
    res.set_content("{}", "application/json");
  });
  FakeRetryClock clock;
  bool started = false;
  clock.on_sleep = [&](std::int64_t) {
    if (!started) started = server.start_on(port);
  };
  HttpClient http(test_endpoint("http://127.0.0.1:" + std::to_string(port)), {});
  ApiTransport transport(http, RetryPolicy{}, clock.clock());
  refit::kube::HttpRequest request{"POST", "/api/v1/namespaces/default/configmaps", "application/json", "{}"};
  auto exchange = transport.send(request, SendRules{false}, kSubject);
  REQUIRE(started);
  CHECK(exchange.response.status == 201);
  CHECK(exchange.attempts == 2);
  CHECK(posts == 1);
  CHECK(clock.sleeps.size() == 1);
}

TEST_CASE("kube retry: a server that stays away ends in an error naming it", "[kube][kube-retry]") {
  std::string url = "http://127.0.0.1:" + std::to_string(refit::test::unused_port());
  FakeRetryClock clock;
  HttpClient http(test_endpoint(url), {});
  ApiTransport transport(http, RetryPolicy{}, clock.clock());
  refit::kube::HttpRequest request{"POST", "/api/v1/namespaces/default/configmaps", "application/json", "{}"};
  auto error = api_error_of([&] { transport.send(request, SendRules{false}, kSubject); });
  CHECK(error.status == 0);
  CHECK(clock.sleeps.size() == 5);
  CHECK_THAT(std::string(error.what()),
             Catch::StartsWith("create ConfigMap default/settings: cannot reach context \"test-context\" (" + url + "): "));
  CHECK_THAT(std::string(error.what()), Catch::EndsWith("(after 6 attempts)"));
}

TEST_CASE("kube retry: a connection lost mid-request repeats a get, not a create", "[kube][kube-retry]") {
  FakeApiServer server;
  std::atomic<int> calls{0};
  auto cut_first = [&](const httplib::Request&, httplib::Response& res) {
    if (calls++ == 0) {
      res.set_content_provider(100, "application/json", [](size_t, size_t, httplib::DataSink&) { return false; });
      return;
    }
    res.set_content("{}", "application/json");
  };
  server.routes().Get("/thing", cut_first).Post("/thing", cut_first);
  server.start();
  FakeRetryClock clock;
  HttpClient http(test_endpoint(server.url()), {});
  ApiTransport transport(http, RetryPolicy{}, clock.clock());

  SECTION("get") {
    auto exchange = transport.send({"GET", "/thing", "", ""}, SendRules{true}, kSubject);
    CHECK(exchange.response.status == 200);
    CHECK(exchange.earlier_attempt_may_have_acted);
    CHECK(server.count("GET /thing") == 2);
  }
  SECTION("create") {
    auto error = api_error_of([&] { transport.send({"POST", "/thing", "application/json", "{}"}, SendRules{false}, kSubject); });
    CHECK(error.status == 0);
    CHECK_THAT(std::string(error.what()), Catch::StartsWith("create ConfigMap default/settings: lost the connection to "));
    CHECK(server.count("POST /thing") == 1);
  }
}
