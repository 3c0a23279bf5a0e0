// Lists from a real cluster as the Lua binding reads them: KubeCluster::list_items hands over items
// parsed (simdjson) but not converted, and c:list builds the same tables from them as from list()'s
// Json values: a page simdjson refuses comes as Json values; what list() refuses, list_items refuses
// in the same words; the next page is fetched while the items of one are visited, and a visit that
// fails leaves nothing running. (Inside a wait, items come from the wait's cache: test_kube_wait.cpp.)
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <thread>

#include <simdjson.h>

#include "cluster/kube/kube_cluster.hpp"
#include "kube_fake_server.hpp"
#include "lua/cluster_binding.hpp"
#include "lua/json_bridge.hpp"
#include "lua/vm.hpp"
#include "lua_compare.hpp"

using refit::kube::KubeCluster;
using refit::test::api_error_of;
using refit::test::FakeApiServer;
using refit::test::Json;
using refit::test::test_endpoint;

namespace {

// Three pages of Nodes, written as a real API server writes them (fields in its order, not sorted),
// with what is hard to convert: escapes, surrogate pairs, integers and floats, nulls, empty lists and
// maps. The second page holds an integer beyond 64 bits, which simdjson refuses.
const std::map<std::string, std::string> kPages = {
    {"", R"({"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"900","continue":"p2"},"items":[
      {"metadata":{"name":"n0","uid":"u-0","labels":{"zone":"caf\u00e9","emoji":"\ud83d\ude00"},"annotations":{}},
       "spec":{"taints":[],"podCIDRs":["10.0.0.0/24"],"unschedulable":false},
       "status":{"capacity":{"cpu":"2","pods":110},"ratio":0.75,"whole":1.0,"nothing":null,"conditions":[
         {"type":"Ready","status":"True","message":"kubelet is posting ready status \"ok\"\n","reason":null}]}},
      {"metadata":{"name":"n1","uid":"u-1","labels":{}},"spec":{},"status":{"nested":[[],[{}],[null]]}}]})"},
    {"p2", R"({"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"900","continue":"p3"},"items":[
      {"metadata":{"name":"n2"},"status":{"huge":18446744073709551616,"max":9223372036854775807}},
      {"metadata":{"name":"n3"},"status":{"min":-9223372036854775808,"neg":-0.5}}]})"},
    {"p3", R"({"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"901"},"items":[
      {"apiVersion":"v0","kind":"Old","metadata":{"name":"n4"},"status":{"past_max":9223372036854775808}}]})"},
};

// Serves `pages` at /api/v1/nodes, each after the first `later` late.
void serve_pages(FakeApiServer& server, const std::map<std::string, std::string>& pages,
                 std::chrono::milliseconds later = std::chrono::milliseconds(0)) {
  server.serve_discovery();
  server.routes().Get("/api/v1/nodes", [pages, later](const httplib::Request& req, httplib::Response& res) {
    const std::string page = req.get_param_value("continue");
    if (!page.empty()) std::this_thread::sleep_for(later);
    res.set_content(pages.at(page), "application/json");
  });
  server.start();
}

// A Pod for the requests made while a list's read-ahead is in flight.
void serve_pod(FakeApiServer& server) {
  server.routes().Get("/api/v1/namespaces/default/pods/web-1", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"default"}})",
                    "application/json");
  });
}

}  // namespace

TEST_CASE("kube list items: parsed items, and Json values for a page simdjson refuses", "[kube][list-items]") {
  FakeApiServer server;
  serve_pages(server, kPages);
  KubeCluster cluster("prod", test_endpoint(server.url()));
  std::vector<std::string> seen;
  cluster.list_items({"", "Node", "", "", ""}, [&](const refit::cluster::ListItem& item) {
    if (item.json != nullptr) {
      CHECK(item.parsed == nullptr);
      CHECK((*item.json)["apiVersion"] == "v1");
      CHECK((*item.json)["kind"] == "Node");
      seen.push_back("json " + (*item.json)["metadata"]["name"].get<std::string>());
    } else {
      REQUIRE(item.parsed != nullptr);
      CHECK(item.api_version == "v1");
      CHECK(item.kind == "Node");
      std::string_view name;
      REQUIRE((*item.parsed)["metadata"]["name"].get(name) == simdjson::SUCCESS);
      seen.push_back("parsed " + std::string(name));
    }
  });
  CHECK(seen == std::vector<std::string>{"parsed n0", "parsed n1", "json n2", "json n3", "parsed n4"});
  CHECK(server.requests() == std::vector<std::string>{"GET /api/v1", "GET /api/v1/nodes?limit=500",
                                                      "GET /api/v1/nodes?continue=p2&limit=500",
                                                      "GET /api/v1/nodes?continue=p3&limit=500"});
}

TEST_CASE("kube list items: c:list makes the tables the Json path makes", "[kube][list-items][lua]") {
  FakeApiServer server;
  serve_pages(server, kPages);
  KubeCluster cluster("prod", test_endpoint(server.url()));
  refit::lua::Vm vm;
  lua_State* L = vm.state();

  // What c:list made before: list()'s Json values, through push_json.
  lua_newtable(L);
  lua_Integer n = 0;
  cluster.list({"", "Node", "", "", ""}, [&](const Json& node) {
    refit::lua::push_json(L, node, refit::lua::NullMode::Drop);
    lua_rawseti(L, -2, ++n);
  });
  refit::lua::push_array_marker(L);
  lua_setmetatable(L, -2);
  REQUIRE(n == 5);

  const char* list = "local c = ... return c:list { kind = \"Node\" }";
  REQUIRE_FALSE(vm.load_source(list, "list.lua", {".", false}).has_value());
  refit::lua::push_cluster_handle(L, &cluster, nullptr);
  auto error = vm.pcall(1, 1);
  REQUIRE_FALSE(error.has_value());
  CHECK(refit::test::describe_difference(L, -2, -1) == "");
  CHECK(lua_gettop(L) == 2);  // the converter's cache is gone from the stack

  SECTION("the values themselves, as a playbook reads them") {
    REQUIRE_FALSE(vm.load_source(R"(
      local nodes = ...
      local n0, n1, n2, n4 = nodes[1], nodes[2], nodes[3], nodes[5]
      assert(n0.apiVersion == "v1" and n0.kind == "Node" and n4.apiVersion == "v1" and n4.kind == "Node")
      assert(n0.metadata.labels.zone == "caf\u{e9}" and n0.metadata.labels.emoji == "\u{1F600}")
      assert(next(n0.metadata.annotations) == nil and getmetatable(n0.metadata.annotations) == nil)
      assert(#n0.spec.taints == 0 and getmetatable(n0.spec.taints) ~= nil)
      assert(math.type(n0.status.capacity.pods) == "integer" and math.type(n0.status.whole) == "float")
      assert(n0.status.nothing == nil and n0.status.conditions[1].reason == nil)
      assert(n0.status.conditions[1].message == 'kubelet is posting ready status "ok"\n')
      assert(#n1.status.nested == 3 and #n1.status.nested[2] == 1 and next(n1.status.nested[2][1]) == nil)
      assert(math.type(n2.status.huge) == "float" and n2.status.huge == 2^64)
      assert(math.type(n4.status.past_max) == "float")
      return true
    )", "check.lua", {".", false}).has_value());
    lua_pushvalue(L, -2);
    auto failed = vm.pcall(1, 1);
    CHECK_FALSE(failed.has_value());
    if (failed) FAIL(failed->message);
  }
}

TEST_CASE("kube list items: what list refuses, list_items refuses in the same words", "[kube][list-items]") {
  const char* page = GENERATE(R"({"kind":"NodeList","items":[{"metadata":{"name":"n0"}},)",
                              R"({"kind":"NodeList","items":[1]})",
                              R"({"kind":"NodeList","items":[{"metadata":{"name":"bad \x01 byte"}}]})");
  INFO(page);
  FakeApiServer server;
  serve_pages(server, {{"", page}});
  KubeCluster cluster("prod", test_endpoint(server.url()));
  std::string by_list, by_items;
  try {
    cluster.list({"", "Node", "", "", ""}, [](const Json&) {});
  } catch (const std::exception& e) {
    by_list = e.what();
  }
  int visited = 0;
  try {
    cluster.list_items({"", "Node", "", "", ""}, [&](const refit::cluster::ListItem&) { ++visited; });
  } catch (const std::exception& e) {
    by_items = e.what();
  }
  CHECK_FALSE(by_list.empty());
  CHECK(by_items == by_list);
  CHECK(visited == 0);
}

TEST_CASE("kube list items: the simulated world's default hands over Json values", "[kube][list-items]") {
  // Cluster::list_items by default wraps list(): a backend that has only Json values needs nothing more.
  struct OneNode : refit::cluster::Cluster {
    std::string name_ = "sim";
    const std::string& name() const override { return name_; }
    refit::cluster::ServerVersion version() const override { return {}; }
    bool get(const refit::cluster::ObjectRef&, const std::function<void(const Json&)>&) override { return false; }
    void list(const refit::cluster::ListQuery&, const std::function<void(const Json&)>& visit) override {
      visit(Json{{"kind", "Node"}, {"metadata", {{"name", "n0"}}}});
    }
    void create(Json, const StoredVisitor&) override {}
    void apply(Json, const refit::cluster::ApplyOptions&, const StoredVisitor&) override {}
    void replace(Json, const StoredVisitor&) override {}
    void merge_patch(const refit::cluster::ObjectRef&, const Json&, const StoredVisitor&) override {}
    void json_patch(const refit::cluster::ObjectRef&, const Json&, const StoredVisitor&) override {}
    void strategic_patch(const refit::cluster::ObjectRef&, const Json&, const StoredVisitor&) override {}
    void patch_status(const refit::cluster::ObjectRef&, const Json&, const StoredVisitor&) override {}
    bool remove(const refit::cluster::ObjectRef&, const refit::cluster::DeleteOptions&) override { return false; }
    void evict(const refit::cluster::ObjectRef&) override {}
  } cluster;
  std::vector<std::string> names;
  cluster.list_items({"", "Node", "", "", ""}, [&](const refit::cluster::ListItem& item) {
    REQUIRE(item.json != nullptr);
    CHECK(item.parsed == nullptr);
    names.push_back((*item.json)["metadata"]["name"]);
  });
  CHECK(names == std::vector<std::string>{"n0"});
}

TEST_CASE("kube list items: the next page is fetched while the items of one are visited", "[kube][list-items]") {
  FakeApiServer server;
  serve_pages(server, kPages);
  KubeCluster cluster("prod", test_endpoint(server.url()));
  bool overlapped = false;
  int visited = 0;
  cluster.list_items({"", "Node", "", "", ""}, [&](const refit::cluster::ListItem&) {
    if (visited++ != 0) return;
    // The first item of the first page: the request for the second page comes meanwhile.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!overlapped && std::chrono::steady_clock::now() < deadline) {
      overlapped = server.count("GET /api/v1/nodes?continue=p2") == 1;
      if (!overlapped) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  CHECK(overlapped);
  CHECK(visited == 5);
}

TEST_CASE("kube list items: a failed page after the first says so, as list does", "[kube][list-items]") {
  FakeApiServer server;
  server.serve_discovery();
  server.routes().Get("/api/v1/nodes", [](const httplib::Request& req, httplib::Response& res) {
    if (req.get_param_value("continue").empty()) {
      res.set_content(R"({"kind":"NodeList","metadata":{"continue":"p2"},"items":[{"metadata":{"name":"n0"}}]})",
                      "application/json");
      return;
    }
    res.status = 410;
    res.set_content(refit::test::status_body(410, "Expired", "The provided continue parameter is too old"),
                    "application/json");
  });
  server.start();
  KubeCluster cluster("prod", test_endpoint(server.url()));
  auto by_list = api_error_of([&] { cluster.list({"", "Node", "", "", ""}, [](const Json&) {}); });
  int visited = 0;
  auto by_items = api_error_of([&] {
    cluster.list_items({"", "Node", "", "", ""}, [&](const refit::cluster::ListItem&) { ++visited; });
  });
  CHECK(by_items.status == 410);
  CHECK(std::string(by_items.what()) == "list nodes: the collection changed too much while refit read it page by page "
                                        "(the server expired its continue token): run it again");
  CHECK(std::string(by_items.what()) == std::string(by_list.what()));
  CHECK(visited == 1);
}

TEST_CASE("kube list items: a visit that fails leaves the read-ahead to the next request", "[kube][list-items]") {
  // A Lua error in the caller's conversion (out of memory) leaves list_items by a longjmp, with the next
  // page still being fetched: a C++ exception leaves it the same way. The next request waits for that
  // fetch before it uses the connection.
  // The second page comes late, so that the get would overtake it if it did not wait.
  FakeApiServer server;
  serve_pod(server);
  serve_pages(server, kPages, std::chrono::milliseconds(200));
  KubeCluster cluster("prod", test_endpoint(server.url()));
  CHECK_THROWS_WITH(cluster.list_items({"", "Node", "", "", ""},
                                       [](const refit::cluster::ListItem&) { throw std::runtime_error("no memory"); }),
                    "no memory");
  std::string name;
  CHECK(cluster.get({"v1", "Pod", "default", "web-1"}, [&](const Json& pod) { name = pod["metadata"]["name"]; }));
  CHECK(name == "web-1");
  CHECK(server.requests() == std::vector<std::string>{"GET /api/v1", "GET /api/v1/nodes?limit=500",
                                                      "GET /api/v1/nodes?continue=p2&limit=500",
                                                      "GET /api/v1/namespaces/default/pods/web-1"});
}

TEST_CASE("kube list items: a visit that reads the cluster waits for the read-ahead and leaves it to the list",
          "[kube][list-items]") {
  // A request made while the list visits (a Lua finalizer that reads the cluster) waits for the page
  // being fetched, which its list then reads as it would have.
  FakeApiServer server;
  serve_pod(server);
  serve_pages(server, kPages, std::chrono::milliseconds(200));
  KubeCluster cluster("prod", test_endpoint(server.url()));
  int visited = 0;
  std::string name;
  cluster.list_items({"", "Node", "", "", ""}, [&](const refit::cluster::ListItem&) {
    if (visited++ == 0) cluster.get({"v1", "Pod", "default", "web-1"}, [&](const Json& pod) { name = pod["metadata"]["name"]; });
  });
  CHECK(visited == 5);
  CHECK(name == "web-1");
  CHECK(server.requests() == std::vector<std::string>{"GET /api/v1", "GET /api/v1/nodes?limit=500",
                                                      "GET /api/v1/nodes?continue=p2&limit=500",
                                                      "GET /api/v1/namespaces/default/pods/web-1",
                                                      "GET /api/v1/nodes?continue=p3&limit=500"});
}
