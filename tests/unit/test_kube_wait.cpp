// Waits against a real API: reads inside a wait come from one list and one watch, advance_to returns
// as soon as a watched object changes, watches that end are re-opened from where they were, expired
// ones are listed again, and a user who may not watch is told and polled for. Checked by counting the
// requests a fake server receives.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>

#include "cluster/kube/kube_world.hpp"
#include "kube_fake_server.hpp"

using refit::kube::KubeCluster;
using refit::kube::KubeWorld;
using refit::kube::ObjectRef;
using refit::test::FakeApiServer;
using refit::test::Json;
using refit::test::status_body;
using refit::test::test_endpoint;

namespace {

const ObjectRef kCoredns{"apps/v1", "Deployment", "kube-system", "coredns"};
const std::string kDeployments = "/apis/apps/v1/namespaces/kube-system/deployments";

Json deployment(const std::string& name, int ready, const std::string& version) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", "kube-system"}, {"resourceVersion", version}}},
          {"status", {{"readyReplicas", ready}}}};
}

Json event(const std::string& type, const Json& object) { return {{"type", type}, {"object", object}}; }

// Deployments in kube-system: coredns and metrics-server, listed and watched.
struct Api {
  enum class WatchMode { Stream, Forbidden, Failing, GoneOnce, Short };
  FakeApiServer server;
  std::mutex mutex;
  int coredns_ready = 1;
  std::string list_version = "100";
  std::atomic<WatchMode> watch_mode{WatchMode::Stream};
  std::atomic<bool> lists_fail{false};
  std::vector<std::string> warnings;
  std::unique_ptr<KubeWorld> world;
  KubeCluster* cluster = nullptr;

  explicit Api(std::optional<double> sim_speed = std::nullopt, refit::kube::KubeClusterOptions options = {}) {
    server.serve_discovery();
    server.routes().Get(kDeployments, [this](const httplib::Request& req, httplib::Response& res) {
      if (req.get_param_value("watch") == "1") {
        if (watch_mode == WatchMode::Forbidden) {
          res.status = 403;
          res.set_content(status_body(403, "Forbidden", "deployments.apps is forbidden: User \"jane\" cannot watch"),
                          "application/json");
          return;
        }
        if (watch_mode == WatchMode::Failing) {
          res.status = 500;
          res.set_content(status_body(500, "InternalError", "etcd is down"), "application/json");
          return;
        }
        if (watch_mode == WatchMode::Short) {  // ends at once, with only a bookmark of where it began
          Json bookmark = {{"type", "BOOKMARK"},
                           {"object", {{"kind", "Deployment"},
                                       {"metadata", {{"resourceVersion", req.get_param_value("resourceVersion")}}}}}};
          res.set_content(bookmark.dump() + "\n", "application/json");
          return;
        }
        if (watch_mode == WatchMode::GoneOnce) {
          watch_mode = WatchMode::Stream;
          res.status = 410;
          res.set_content(status_body(410, "Expired", "too old resource version: 100 (150)"), "application/json");
          return;
        }
        FakeApiServer::stream(res, server.feed());
        return;
      }
      if (lists_fail) {
        res.status = 500;
        res.set_content(status_body(500, "InternalError", "etcd is down"), "application/json");
        return;
      }
      std::lock_guard lock(mutex);
      Json list = {{"kind", "DeploymentList"}, {"metadata", {{"resourceVersion", list_version}}}, {"items", Json::array()}};
      std::string fields = req.get_param_value("fieldSelector");
      Json coredns = deployment("coredns", coredns_ready, list_version);
      coredns.erase("apiVersion");  // lists leave them out
      coredns.erase("kind");
      if (fields.empty() || fields == "metadata.name=coredns") list["items"].push_back(coredns);
      if (fields.empty()) list["items"].push_back({{"metadata", {{"name", "metrics-server"}, {"namespace", "kube-system"}}}});
      res.set_content(list.dump(), "application/json");
    });
    server.routes().Get(kDeployments + "/coredns", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex);
      res.set_content(deployment("coredns", coredns_ready, list_version).dump(), "application/json");
    });
    server.routes().Patch(kDeployments + "/coredns", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(deployment("coredns", 5, "150").dump(), "application/json");
    });
    server.start();
    world = std::make_unique<KubeWorld>([this](const std::string& cluster_name, const std::string& message) {
      warnings.push_back(cluster_name + ": " + message);
    });
    auto endpoint = test_endpoint(server.url());
    endpoint.sim_speed = sim_speed;
    cluster = &world->add_cluster("prod", endpoint, std::move(options));
    cluster->get(kCoredns, [](const Json&) {});  // discovery, out of the way
    server.clear_requests();
  }

  int ready() {
    int out = -1;
    REQUIRE(cluster->get(kCoredns, [&](const Json& d) { out = d["status"]["readyReplicas"]; }));
    return out;
  }

  std::string watch_request(const std::string& version, const std::string& fields = "metadata.name=coredns") const {
    return "GET " + kDeployments + "?allowWatchBookmarks=true" + (fields.empty() ? "" : "&fieldSelector=" + fields) +
           "&resourceVersion=" + version + "&timeoutSeconds=300&watch=1";
  }
  std::string list_request(const std::string& fields = "metadata.name=coredns") const {
    return "GET " + kDeployments + (fields.empty() ? "" : "?fieldSelector=" + fields + "&limit=500");
  }
};

}  // namespace

TEST_CASE("kube wait: outside waits, every read goes to the server", "[kube][kube-wait]") {
  Api api;
  CHECK(api.ready() == 1);
  CHECK(api.ready() == 1);
  CHECK(api.server.requests() == std::vector<std::string>(2, "GET " + kDeployments + "/coredns"));
}

TEST_CASE("kube wait: a get inside a wait lists once, watches, and returns early on a change", "[kube][kube-wait]") {
  Api api;
  api.world->wait_began();
  CHECK(api.ready() == 1);
  CHECK(api.ready() == 1);  // from the cache
  CHECK(api.server.requests() == std::vector<std::string>{api.list_request()});

  {
    std::lock_guard lock(api.mutex);
    api.coredns_ready = 2;
  }
  api.server.feed().push(event("MODIFIED", deployment("coredns", 2, "101")));
  const std::int64_t deadline = api.world->now() + 600'000;
  api.world->advance_to(deadline);
  CHECK(api.world->now() < deadline);  // it returned on the event, ten minutes early
  CHECK(api.ready() == 2);
  CHECK(api.server.requests() == std::vector<std::string>{api.list_request(), api.watch_request("100")});

  api.world->wait_ended();
  api.server.clear_requests();
  CHECK(api.ready() == 2);  // straight to the server again
  CHECK(api.server.requests() == std::vector<std::string>{"GET " + kDeployments + "/coredns"});
}

TEST_CASE("kube wait: a 60-second wait on one object costs two requests", "[kube][kube-wait]") {
  Api api(1000.0);  // a served sim world at 1000x: sixty seconds pass in sixty milliseconds
  CHECK(api.world->speed() == 1000.0);
  const std::int64_t start = api.world->now();
  const std::int64_t deadline = start + 60'000;
  api.world->wait_began();
  int polls = 0;
  // RunHost's loop: the predicate, then time until the next poll (2 s) or the deadline.
  while (true) {
    ++polls;
    if (api.ready() == 3) break;
    std::int64_t now = api.world->now();
    if (now >= deadline) break;
    api.world->advance_to(std::min(now + 2000, deadline));
  }
  api.world->wait_ended();
  CHECK(polls >= 2);
  CHECK(api.server.requests() == std::vector<std::string>{api.list_request(), api.watch_request("100")});
}

TEST_CASE("kube wait: a watch that ends is opened again from the last resourceVersion", "[kube][kube-wait]") {
  Api api;
  api.world->wait_began();
  CHECK(api.ready() == 1);
  api.server.feed().push(event("MODIFIED", deployment("coredns", 2, "101")));
  api.server.feed().end_stream();  // the server's timeout
  api.server.feed().push(event("MODIFIED", deployment("coredns", 3, "102")));  // for the next watch
  api.world->advance_to(api.world->now() + 600'000);
  api.world->advance_to(api.world->now() + 600'000);
  CHECK(api.ready() == 3);
  CHECK(api.server.requests() ==
        std::vector<std::string>{api.list_request(), api.watch_request("100"), api.watch_request("101")});
  api.world->wait_ended();
}

TEST_CASE("kube wait: bookmarks move the resourceVersion, deletions empty the cache", "[kube][kube-wait]") {
  Api api;
  api.world->wait_began();
  CHECK(api.ready() == 1);
  api.server.feed().push({{"type", "BOOKMARK"}, {"object", {{"kind", "Deployment"}, {"metadata", {{"resourceVersion", "180"}}}}}});
  api.server.feed().push(event("DELETED", deployment("coredns", 1, "181")));
  api.world->advance_to(api.world->now() + 600'000);
  CHECK_FALSE(api.cluster->get(kCoredns, [](const Json&) {}));
  api.server.feed().end_stream();
  api.server.feed().push(event("ADDED", deployment("coredns", 0, "190")));
  api.world->advance_to(api.world->now() + 600'000);
  CHECK(api.ready() == 0);
  CHECK(api.server.requests().back() == api.watch_request("181"));
  api.world->wait_ended();
}

TEST_CASE("kube wait: a watch told 410 Gone lists again", "[kube][kube-wait]") {
  Api api;
  api.world->wait_began();
  CHECK(api.ready() == 1);
  {
    std::lock_guard lock(api.mutex);
    api.coredns_ready = 3;
    api.list_version = "200";
  }
  api.server.feed().push({{"type", "ERROR"},
                          {"object", Json::parse(status_body(410, "Expired", "too old resource version: 100 (150)"))}});
  api.server.feed().end_stream();
  api.world->advance_to(api.world->now() + 600'000);
  CHECK(api.ready() == 3);
  CHECK(api.server.count(api.list_request()) == 2);
  api.world->wait_ended();
}

TEST_CASE("kube wait: a watch refused with 410 Gone when it opens lists again", "[kube][kube-wait]") {
  Api api;
  api.watch_mode = Api::WatchMode::GoneOnce;
  api.world->wait_began();
  CHECK(api.ready() == 1);
  api.world->advance_to(api.world->now() + 600'000);  // returns once it has listed again
  CHECK(api.server.requests() ==
        std::vector<std::string>{api.list_request(), api.watch_request("100"), api.list_request()});
  api.world->wait_ended();
}

// Millisecond pauses between failed watches: the tests stay quick.
refit::kube::KubeClusterOptions quick_backoff() {
  refit::kube::KubeClusterOptions options;
  options.retry = refit::kube::RetryPolicy{6, 1, 2, 60'000};
  return options;
}

// Moves the world on until `done` (at most 2,000 steps of 5 ms of world time).
template <class Done>
bool advance_until(Api& api, Done done) {
  for (int i = 0; i < 2000 && !done(); ++i) api.world->advance_to(api.world->now() + 5);
  return done();
}

TEST_CASE("kube wait: watches that keep ending at once are not given up on: the wait lists instead",
          "[kube][kube-wait]") {
  Api api(std::nullopt, quick_backoff());
  api.watch_mode = Api::WatchMode::Short;
  api.world->wait_began();
  CHECK(api.ready() == 1);
  const std::string watches = "GET " + kDeployments + "?allowWatchBookmarks";
  // Far more failed watches than the transport's attempts: the wait goes on.
  REQUIRE(advance_until(api, [&] { return api.server.count(watches) >= 12; }));
  // Each watch after a failed one comes after a list that fetched what it missed.
  std::vector<std::string> requests = api.server.requests();
  REQUIRE(requests.size() >= 6);
  for (std::size_t i = 0; i + 1 < requests.size(); i += 2) {
    CHECK(requests[i] == api.list_request());
    CHECK(requests[i + 1].rfind(watches, 0) == 0);
  }
  REQUIRE(api.warnings.size() == 1);
  CHECK(api.warnings[0] == "prod: context \"test-context\" (" + api.server.url() +
                               "): watches of deployments.apps in namespace kube-system end at once with nothing new "
                               "(3 in a row): the wait lists them instead, less and less often (up to every 1 s), "
                               "until a watch stays open");

  // A change the watches never deliver is seen through the lists.
  {
    std::lock_guard lock(api.mutex);
    api.coredns_ready = 3;
    api.list_version = "200";
  }
  CHECK(advance_until(api, [&] { return api.ready() == 3; }));

  // Watches stay open again: the wait is back to watching, and lists no more.
  api.watch_mode = Api::WatchMode::Stream;
  REQUIRE(advance_until(api, [&] { return api.server.requests().back() == api.watch_request("200"); }));
  api.server.clear_requests();
  api.server.feed().push(event("MODIFIED", deployment("coredns", 4, "201")));
  CHECK(advance_until(api, [&] { return api.ready() == 4; }));
  api.world->advance_to(api.world->now() + 50);
  CHECK(api.server.requests().empty());
  CHECK(api.warnings.size() == 1);
  api.world->wait_ended();
}

TEST_CASE("kube wait: watches the server refuses make the wait list; a list that fails fails it", "[kube][kube-wait]") {
  Api api(std::nullopt, quick_backoff());
  api.watch_mode = Api::WatchMode::Failing;
  api.world->wait_began();
  CHECK(api.ready() == 1);
  const std::string watches = "GET " + kDeployments + "?allowWatchBookmarks";
  REQUIRE(advance_until(api, [&] { return api.server.count(watches) >= 8; }));
  REQUIRE(api.warnings.size() == 1);
  CHECK(api.warnings[0] == "prod: context \"test-context\" (" + api.server.url() +
                               "): watches of deployments.apps in namespace kube-system are answered with status 500 "
                               "(3 in a row): the wait lists them instead, less and less often (up to every 1 s), "
                               "until a watch stays open");
  api.lists_fail = true;
  auto error = refit::test::api_error_of([&] { advance_until(api, [] { return false; }); });
  CHECK(error.status == 500);
  CHECK(std::string(error.what()) == "list deployments.apps in namespace kube-system failed on context \"test-context\" (" +
                                         api.server.url() + "): the server answered 500 InternalError: etcd is down "
                                         "(after 6 attempts)");
  api.world->wait_ended();
}

TEST_CASE("kube wait: a user who may not watch is told, and the wait polls", "[kube][kube-wait]") {
  Api api;
  api.watch_mode = Api::WatchMode::Forbidden;
  api.world->wait_began();
  CHECK(api.ready() == 1);
  for (int i = 0; i < 1000 && api.warnings.empty(); ++i) api.world->advance_to(api.world->now() + 10);
  REQUIRE(api.warnings.size() == 1);
  CHECK(api.warnings[0] == "prod: context \"test-context\" (" + api.server.url() +
                               "): the context's user may list but not watch deployments.apps in namespace kube-system: "
                               "waits on them poll the server instead (grant the watch permission to spare it)");
  api.server.clear_requests();
  CHECK(api.ready() == 1);
  CHECK(api.ready() == 1);
  CHECK(api.server.requests() == std::vector<std::string>(2, api.list_request()));
  api.world->wait_ended();
}

TEST_CASE("kube wait: a list read in the wait answers gets of its objects", "[kube][kube-wait]") {
  Api api;
  api.world->wait_began();
  std::vector<std::string> names;
  api.cluster->list({"apps/v1", "Deployment", "kube-system", "", ""}, [&](const Json& d) {
    CHECK(d["kind"] == "Deployment");
    names.push_back(d["metadata"]["name"]);
  });
  CHECK(names == std::vector<std::string>{"coredns", "metrics-server"});
  CHECK(api.ready() == 1);
  CHECK_FALSE(api.cluster->get({"apps/v1", "Deployment", "kube-system", "absent"}, [](const Json&) {}));
  CHECK(api.server.requests() == std::vector<std::string>{"GET " + kDeployments + "?limit=500"});
  api.world->wait_ended();
}

TEST_CASE("kube wait: a write inside a wait goes to the server and is read back at once", "[kube][kube-wait]") {
  Api api;
  api.world->wait_began();
  CHECK(api.ready() == 1);
  api.cluster->merge_patch(kCoredns, {{"spec", {{"replicas", 5}}}}, [](const Json&) {});
  CHECK(api.ready() == 5);
  CHECK(api.server.requests() == std::vector<std::string>{api.list_request(), "PATCH " + kDeployments + "/coredns"});
  api.world->wait_ended();
}

TEST_CASE("kube wait: waits nest; the cache lives until the outermost ends", "[kube][kube-wait]") {
  Api api;
  api.world->wait_began();
  api.world->wait_began();
  CHECK(api.ready() == 1);
  api.world->wait_ended();
  CHECK(api.ready() == 1);
  CHECK(api.server.count("GET ") == 1);
  api.world->wait_ended();
  CHECK(api.ready() == 1);
  CHECK(api.server.count("GET ") == 2);
}

TEST_CASE("kube wait: the world's clock runs at the served worlds' speed only when all agree", "[kube][kube-wait]") {
  KubeWorld world;
  auto fast = test_endpoint("http://127.0.0.1:1");
  fast.sim_speed = 60.0;
  world.add_cluster("a", fast);
  CHECK(world.speed() == 60.0);
  world.add_cluster("b", fast);
  CHECK(world.speed() == 60.0);
  std::int64_t before = world.now();
  world.add_cluster("c", test_endpoint("http://127.0.0.1:1"));
  CHECK(world.speed() == 1.0);
  CHECK(world.now() >= before);  // the clock never runs back when the speed changes
  CHECK_THROWS_WITH(world.add_cluster("a", fast), "cluster \"a\" is already in the run");
  CHECK(world.find("b") != nullptr);
  CHECK(world.find("z") == nullptr);
}

// A wait that reads two collections opens two watches at once. Over HTTP/1.1 the second must get a
// connection of its own at once: a served world sends a watch's headers with its first event, so a
// watch parked until the first connection shows whether it can multiplex would see nothing for as
// long as the first stays quiet, and the wait would run to its timeout past the change it waits for.
TEST_CASE("kube wait: over HTTP/1.1 a wait's watches do not wait on each other", "[kube][kube-wait]") {
  refit::test::WatchFeed nodes;  // before the server, which ends its streams when it goes
  FakeApiServer server;          // the deployments' watch streams from server.feed(), which stays quiet
  server.add_feed(nodes);
  server.serve_discovery();
  server.routes().Get(kDeployments, [&server](const httplib::Request& req, httplib::Response& res) {
    if (req.get_param_value("watch") == "1") return FakeApiServer::stream(res, server.feed());
    Json coredns = deployment("coredns", 1, "100");
    res.set_content(Json{{"kind", "DeploymentList"}, {"metadata", {{"resourceVersion", "100"}}},
                         {"items", Json::array({coredns})}}.dump(), "application/json");
  });
  server.routes().Get("/api/v1/nodes", [&nodes](const httplib::Request& req, httplib::Response& res) {
    if (req.get_param_value("watch") == "1") return FakeApiServer::stream(res, nodes);
    res.set_content(Json{{"kind", "NodeList"}, {"metadata", {{"resourceVersion", "100"}}},
                         {"items", Json::array({{{"metadata", {{"name", "node-1"}, {"resourceVersion", "100"}}}}})}}
                        .dump(), "application/json");
  });
  server.start();
  KubeWorld world;
  auto endpoint = test_endpoint(server.url());
  endpoint.sim_speed = 1000.0;  // ten minutes of the world's time in 600 ms
  KubeCluster& cluster = world.add_cluster("prod", endpoint);
  REQUIRE(cluster.protocol() == "");  // nothing asked yet

  world.wait_began();
  auto labels_of_node = [&] {
    Json labels;
    cluster.list({"v1", "Node", "", "", ""}, [&](const Json& n) { labels = n["metadata"].value("labels", Json()); });
    return labels;
  };
  REQUIRE(cluster.get(kCoredns, [](const Json&) {}));
  CHECK(labels_of_node().is_null());
  nodes.push(event("MODIFIED", {{"apiVersion", "v1"}, {"kind", "Node"},
                                {"metadata", {{"name", "node-1"}, {"resourceVersion", "101"},
                                              {"labels", {{"upgraded", "yes"}}}}}}));
  const std::int64_t deadline = world.now() + 600'000;
  world.advance_to(deadline);
  CHECK(world.now() < deadline);  // it returned on the node's change
  CHECK(labels_of_node() == Json{{"upgraded", "yes"}});
  world.wait_ended();
}

TEST_CASE("kube wait: list_items inside a wait reads the wait's cache, as Json values",
          "[kube][kube-wait][list-items]") {
  Api api;
  api.world->wait_began();
  const refit::kube::ListQuery deployments{"apps/v1", "Deployment", "kube-system", "", ""};
  for (int round = 0; round < 2; ++round) {
    std::vector<std::string> names;
    api.cluster->list_items(deployments, [&](const refit::cluster::ListItem& item) {
      REQUIRE(item.json != nullptr);
      CHECK(item.parsed == nullptr);
      CHECK((*item.json)["kind"] == "Deployment");
      names.push_back((*item.json)["metadata"]["name"]);
    });
    CHECK(names == std::vector<std::string>{"coredns", "metrics-server"});
  }
  CHECK(api.server.requests() == std::vector<std::string>{"GET " + kDeployments + "?limit=500"});
  api.world->wait_ended();
}
