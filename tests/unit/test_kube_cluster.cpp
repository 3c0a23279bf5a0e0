// KubeCluster against a fake API server: discovery (lazy, cached), paths and scopes, list paging,
// every write's method, content type and query, deletes, evictions, the server version, and the
// simulated cluster's words for what it refuses before sending anything.
#include <catch2/catch.hpp>

#include <mutex>

#include "cluster/kinds.hpp"
#include "cluster/kube/discovery.hpp"
#include "cluster/kube/kube_cluster.hpp"
#include "kube_fake_server.hpp"

using refit::kube::KubeCluster;
using refit::kube::ObjectRef;
using refit::test::api_error_of;
using refit::test::FakeApiServer;
using refit::test::Json;
using refit::test::status_body;
using refit::test::test_endpoint;

namespace {

// What a write handler saw.
struct Seen {
  std::string method, path, query, content_type;
  Json body;
};

struct Fixture {
  FakeApiServer server;
  std::mutex mutex;
  std::vector<Seen> seen;
  std::unique_ptr<KubeCluster> cluster;

  explicit Fixture(const std::string& git_version = "v1.29.4") {
    server.serve_discovery(git_version);
    // Writes answer with what they were sent plus a resourceVersion, as a server stores it.
    auto echo = [this](const httplib::Request& req, httplib::Response& res) {
      Seen s{req.method, req.path, "", req.get_header_value("Content-Type"), Json::parse(req.body, nullptr, false)};
      for (const auto& [k, v] : req.params) s.query += (s.query.empty() ? "" : "&") + k + "=" + v;
      Json answer = s.body.is_object() && s.body.contains("metadata") ? s.body : Json{{"metadata", Json::object()}};
      answer["metadata"]["resourceVersion"] = "42";
      {
        std::lock_guard lock(mutex);
        seen.push_back(std::move(s));
      }
      res.status = req.method == "POST" ? 201 : 200;
      res.set_content(answer.dump(), "application/json");
    };
    const char* object = R"(/api(s/apps)?/v1/(namespaces/[^/]+/)?[a-z]+/[^/]+(/status|/eviction)?)";
    const char* collection = R"(/api(s/apps)?/v1/(namespaces/[^/]+/)?[a-z]+)";
    server.routes().Post(collection, echo).Post(object, echo).Patch(object, echo).Put(object, echo).Delete(object, echo);
    server.routes().Get("/api/v1/namespaces/default/pods/web-1", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"default"}})",
                      "application/json");
    });
    server.routes().Get("/api/v1/namespaces/default/pods/gone", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content(status_body(404, "NotFound", "pods \"gone\" not found"), "application/json");
    });
    server.start();
    cluster = std::make_unique<KubeCluster>("prod", test_endpoint(server.url()));
  }

  Seen last() {
    std::lock_guard lock(mutex);
    REQUIRE(!seen.empty());
    return seen.back();
  }
};

void ignore(const Json&) {}

Json deployment() {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "coredns"}, {"namespace", "kube-system"}}},
          {"spec", {{"replicas", 2}}}};
}

const ObjectRef kCoredns{"apps/v1", "Deployment", "kube-system", "coredns"};

}  // namespace

TEST_CASE("kube cluster: discovery is fetched per group version on first use, then cached", "[kube][kube-cluster]") {
  Fixture f;
  CHECK(f.cluster->get({"", "Pod", "default", "web-1"}, ignore));
  CHECK(f.cluster->get({"v1", "Pod", "default", "web-1"}, ignore));
  f.cluster->merge_patch(kCoredns, {{"spec", {{"replicas", 3}}}}, ignore);
  f.cluster->merge_patch(kCoredns, {{"spec", {{"replicas", 4}}}}, ignore);
  CHECK(f.server.requests() == std::vector<std::string>{
                                   "GET /api/v1",
                                   "GET /api/v1/namespaces/default/pods/web-1",
                                   "GET /api/v1/namespaces/default/pods/web-1",
                                   "GET /apis/apps/v1",
                                   "PATCH /apis/apps/v1/namespaces/kube-system/deployments/coredns",
                                   "PATCH /apis/apps/v1/namespaces/kube-system/deployments/coredns",
                               });
}

TEST_CASE("kube cluster: a kind the server does not serve", "[kube][kube-cluster]") {
  Fixture f;
  ObjectRef widget{"example.com/v1", "Widget", "default", "w"};

  SECTION("reads find nothing, as in the simulated world, asking discovery once") {
    CHECK_FALSE(f.cluster->get(widget, ignore));
    int visited = 0;
    f.cluster->list({"example.com/v1", "Widget", "", "", ""}, [&](const Json&) { ++visited; });
    CHECK(visited == 0);
    CHECK_FALSE(f.cluster->remove(widget, {}));
    CHECK(f.server.requests() == std::vector<std::string>{"GET /apis/example.com/v1"});
  }
  SECTION("a write says which apiVersion is missing") {
    Json object = {{"apiVersion", "example.com/v1"}, {"kind", "Widget"}, {"metadata", {{"name", "w"}, {"namespace", "default"}}}};
    auto error = api_error_of([&] { f.cluster->create(object, ignore); });
    CHECK(error.status == 404);
    CHECK(std::string(error.what()) == "cluster \"prod\" does not serve apiVersion example.com/v1 (kind Widget): is the "
                                       "CustomResourceDefinition that defines it installed?");
    auto patch_error = api_error_of([&] { f.cluster->merge_patch(widget, Json::object(), ignore); });
    CHECK(std::string(patch_error.what()) == std::string(error.what()));
  }
  SECTION("a kind missing from a served group version") {
    Json object = {{"apiVersion", "apps/v1"}, {"kind", "Widget"}, {"metadata", {{"name", "w"}, {"namespace", "default"}}}};
    auto error = api_error_of([&] { f.cluster->create(object, ignore); });
    CHECK(std::string(error.what()) == "cluster \"prod\" serves apiVersion apps/v1 but no kind Widget in it: check the "
                                       "kind's spelling and version");
  }
  SECTION("a near miss of a built-in kind is a typo, for reads too") {
    auto error = api_error_of([&] { f.cluster->get({"apps/v1", "Deploymnet", "kube-system", "coredns"}, ignore); });
    CHECK(error.status == 422);
    CHECK(std::string(error.what()) == "apps/v1 has no kind Deploymnet (did you mean Deployment?)");
  }
  SECTION("a kind that is not built in needs its apiVersion") {
    CHECK_THROWS_AS(f.cluster->get({"", "Widget", "default", "w"}, ignore), refit::UnknownKindError);
    CHECK(f.server.requests().empty());
  }
}

TEST_CASE("kube cluster: discovery looks a missing kind up once more, until a CRD is written", "[kube][kube-cluster]") {
  int fetches = 0;
  bool installed = false;
  refit::kube::Discovery discovery([&](const std::string& path) -> std::optional<Json> {
    ++fetches;
    CHECK(path == "/apis/example.com/v1");
    if (!installed) return std::nullopt;
    return Json{{"resources", {{{"name", "widgets"}, {"kind", "Widget"}, {"namespaced", true}}}}};
  });
  CHECK(discovery.find("example.com/v1", "Widget") == nullptr);
  CHECK(discovery.find("example.com/v1", "Widget") == nullptr);
  CHECK(fetches == 1);
  installed = true;
  discovery.forget_misses();
  const refit::kube::ApiResource* widget = discovery.find("example.com/v1", "Widget");
  REQUIRE(widget != nullptr);
  CHECK(fetches == 2);
  CHECK(widget->qualified() == "widgets.example.com");
  CHECK(widget->object_path("team a", "w/1") == "/apis/example.com/v1/namespaces/team%20a/widgets/w%2F1");
  CHECK(discovery.find("example.com/v1", "Widget") == widget);
  CHECK(fetches == 2);
}

TEST_CASE("kube cluster: get", "[kube][kube-cluster]") {
  Fixture f;
  Json got;
  CHECK(f.cluster->get({"v1", "Pod", "default", "web-1"}, [&](const Json& pod) { got = pod; }));
  CHECK(got["metadata"]["name"] == "web-1");
  CHECK_FALSE(f.cluster->get({"v1", "Pod", "default", "gone"}, ignore));

  auto no_namespace = api_error_of([&] { f.cluster->get({"v1", "Pod", "", "web-1"}, ignore); });
  CHECK(no_namespace.status == 422);
  CHECK(std::string(no_namespace.what()) == "Pod web-1: a namespace is required (Pod is namespaced)");
  auto no_name = api_error_of([&] { f.cluster->get({"v1", "Pod", "default", ""}, ignore); });
  CHECK(std::string(no_name.what()) == "a ref to a Pod needs a name");
}

TEST_CASE("kube cluster: list pages through limit and continue, and passes selectors", "[kube][kube-cluster]") {
  FakeApiServer server;
  server.serve_discovery();
  server.routes().Get("/api/v1/nodes", [](const httplib::Request& req, httplib::Response& res) {
    std::string from = req.get_param_value("continue");
    Json page = {{"kind", "NodeList"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", "900"}}}, {"items", Json::array()}};
    int first = from.empty() ? 0 : std::stoi(from);
    for (int i = first; i < std::min(first + 2, 5); ++i) {
      page["items"].push_back({{"metadata", {{"name", "node-" + std::to_string(i)}}}});
    }
    if (first + 2 < 5) page["metadata"]["continue"] = std::to_string(first + 2);
    res.set_content(page.dump(), "application/json");
  });
  server.start();
  refit::kube::KubeClusterOptions options;
  options.list_page_size = 2;
  KubeCluster cluster("prod", test_endpoint(server.url()), options);
  std::vector<std::string> names;
  cluster.list({"", "Node", "ignored-for-cluster-scope", "node-role.kubernetes.io/control-plane in (true),zone!=b",
                "spec.unschedulable=false"},
               [&](const Json& node) {
                 CHECK(node["apiVersion"] == "v1");
                 CHECK(node["kind"] == "Node");
                 names.push_back(node["metadata"]["name"]);
               });
  CHECK(names == std::vector<std::string>{"node-0", "node-1", "node-2", "node-3", "node-4"});
  std::string selectors =
      "fieldSelector=spec.unschedulable=false&labelSelector=node-role.kubernetes.io/control-plane in (true),zone!=b&limit=2";
  CHECK(server.requests() == std::vector<std::string>{
                                 "GET /api/v1",
                                 "GET /api/v1/nodes?" + selectors,
                                 "GET /api/v1/nodes?continue=2&" + selectors,
                                 "GET /api/v1/nodes?continue=4&" + selectors,
                             });
}

TEST_CASE("kube cluster: create posts to the collection", "[kube][kube-cluster]") {
  Fixture f;
  Json stored;
  f.cluster->create(deployment(), [&](const Json& object) { stored = object; });
  Seen s = f.last();
  CHECK(s.method == "POST");
  CHECK(s.path == "/apis/apps/v1/namespaces/kube-system/deployments");
  CHECK(s.content_type == "application/json");
  CHECK(s.body == deployment());
  CHECK(stored["metadata"]["resourceVersion"] == "42");

  SECTION("a cluster-scoped object loses the namespace it was given") {
    f.cluster->create({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team-a"}, {"namespace", "x"}}}},
                      ignore);
    CHECK(f.last().path == "/api/v1/namespaces");
    CHECK(f.last().body == Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team-a"}}}});
  }
}

TEST_CASE("kube cluster: objects are checked as the simulated store checks them, before any request",
          "[kube][kube-cluster]") {
  Fixture f;
  auto message = [&](Json object) { return std::string(api_error_of([&] { f.cluster->create(object, ignore); }).what()); };
  CHECK(message(Json::array()) == "an object must be a JSON object, got array");
  CHECK(message({{"apiVersion", "v1"}, {"metadata", {{"name", "x"}}}}) == "object x: kind is required");
  CHECK(message({{"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}}) == "ConfigMap x: apiVersion is required");
  CHECK(message({{"apiVersion", "v1"}, {"kind", "ConfigMap"}}) == "ConfigMap: metadata.name is required");
  CHECK(message({{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}}) ==
        "ConfigMap x: metadata.namespace is required (ConfigMap is namespaced)");
  CHECK(f.server.count("POST") == 0);
}

TEST_CASE("kube cluster: server-side apply as field manager refit", "[kube][kube-cluster]") {
  Fixture f;
  Json object = deployment();
  object["metadata"]["managedFields"] = Json::array({{{"manager", "kubectl"}}});
  f.cluster->apply(object, {}, ignore);
  Seen s = f.last();
  CHECK(s.method == "PATCH");
  CHECK(s.path == "/apis/apps/v1/namespaces/kube-system/deployments/coredns");
  CHECK(s.query == "fieldManager=refit");
  CHECK(s.content_type == "application/apply-patch+yaml");
  CHECK(s.body == deployment());  // without the managedFields it was read with

  f.cluster->apply(deployment(), {true}, ignore);
  CHECK(f.last().query == "fieldManager=refit&force=true");
}

TEST_CASE("kube cluster: replace, the patches and the status subresource", "[kube][kube-cluster]") {
  Fixture f;
  f.cluster->replace(deployment(), ignore);
  CHECK(f.last().method == "PUT");
  CHECK(f.last().path == "/apis/apps/v1/namespaces/kube-system/deployments/coredns");
  CHECK(f.last().content_type == "application/json");

  Json patch = {{"spec", {{"replicas", 3}}}};
  f.cluster->merge_patch(kCoredns, patch, ignore);
  CHECK(f.last().content_type == "application/merge-patch+json");
  CHECK(f.last().body == patch);

  Json ops = Json::array({{{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 1}}});
  f.cluster->json_patch(kCoredns, ops, ignore);
  CHECK(f.last().content_type == "application/json-patch+json");
  CHECK(f.last().body == ops);

  f.cluster->strategic_patch(kCoredns, patch, ignore);
  CHECK(f.last().content_type == "application/strategic-merge-patch+json");

  f.cluster->patch_status(kCoredns, {{"readyReplicas", 2}}, ignore);
  CHECK(f.last().path == "/apis/apps/v1/namespaces/kube-system/deployments/coredns/status");
  CHECK(f.last().content_type == "application/merge-patch+json");
  CHECK(f.last().body == Json{{"status", {{"readyReplicas", 2}}}});
}

TEST_CASE("kube cluster: remove with a propagation policy; false when there was nothing", "[kube][kube-cluster]") {
  Fixture f;
  CHECK(f.cluster->remove(kCoredns, {"Foreground"}));
  CHECK(f.last().method == "DELETE");
  CHECK(f.last().path == "/apis/apps/v1/namespaces/kube-system/deployments/coredns");
  CHECK(f.last().query == "propagationPolicy=Foreground");
  CHECK(f.cluster->remove(kCoredns, {}));
  CHECK(f.last().query.empty());

  FakeApiServer server;
  server.serve_discovery();
  server.routes().Delete(".*", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(status_body(404, "NotFound", "not found"), "application/json");
  });
  server.start();
  KubeCluster cluster("prod", test_endpoint(server.url()));
  CHECK_FALSE(cluster.remove(kCoredns, {}));
}

TEST_CASE("kube cluster: evict posts an Eviction of the server's version", "[kube][kube-cluster]") {
  ObjectRef pod{"", "Pod", "default", "web-1"};
  SECTION("policy/v1 from Kubernetes 1.22") {
    Fixture f;
    f.cluster->evict(pod);
    CHECK(f.last().path == "/api/v1/namespaces/default/pods/web-1/eviction");
    CHECK(f.last().body == Json{{"apiVersion", "policy/v1"}, {"kind", "Eviction"},
                                {"metadata", {{"name", "web-1"}, {"namespace", "default"}}}});
  }
  SECTION("policy/v1beta1 before") {
    Fixture f("v1.21.14-eks-18ef993");
    f.cluster->evict(pod);
    CHECK(f.last().body["apiVersion"] == "policy/v1beta1");
  }
  SECTION("a pod that is gone") {
    FakeApiServer server;
    server.serve_discovery();
    server.routes().Post(".*", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content(status_body(404, "NotFound", "pods \"web-1\" not found"), "application/json");
    });
    server.start();
    KubeCluster cluster("prod", test_endpoint(server.url()));
    auto error = api_error_of([&] { cluster.evict(pod); });
    CHECK(error.status == 404);
    CHECK(std::string(error.what()) == "Pod default/web-1 not found");
  }
}

TEST_CASE("kube cluster: the server version is asked on every call, as an upgrade changes it", "[kube][kube-cluster]") {
  FakeApiServer server;
  std::mutex mutex;
  std::string git_version = "v1.27.3-eks-a5565ad";
  server.routes().Get("/version", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mutex);
    refit::cluster::ServerVersion parsed = refit::cluster::parse_server_version(git_version);
    res.set_content(Json{{"major", parsed.major}, {"minor", parsed.minor}, {"gitVersion", git_version}}.dump(),
                    "application/json");
  });
  server.start();
  KubeCluster cluster("prod", test_endpoint(server.url()));
  auto version = cluster.version();
  CHECK(version.major == "1");
  CHECK(version.minor == "27");
  CHECK(version.git_version == "v1.27.3-eks-a5565ad");
  {
    std::lock_guard lock(mutex);
    git_version = "v1.28.5-eks-5e0fdde";
  }
  version = cluster.version();
  CHECK(version.minor == "28");
  CHECK(version.git_version == "v1.28.5-eks-5e0fdde");
  CHECK(server.count("GET /version") == 2);
}

TEST_CASE("kube cluster: a refusal names the request and the endpoint", "[kube][kube-cluster]") {
  FakeApiServer server;
  server.serve_discovery();
  server.routes().Get("/apis/apps/v1/namespaces/kube-system/deployments/coredns", [](const httplib::Request&, httplib::Response& res) {
    res.status = 403;
    res.set_content(status_body(403, "Forbidden", "deployments.apps \"coredns\" is forbidden: User \"jane\" cannot get "
                                                  "resource \"deployments\" in API group \"apps\" in the namespace "
                                                  "\"kube-system\""), "application/json");
  });
  server.start();
  KubeCluster cluster("prod", test_endpoint(server.url()));
  auto error = api_error_of([&] { cluster.get(kCoredns, ignore); });
  CHECK(error.status == 403);
  CHECK(std::string(error.what()) ==
        "get Deployment kube-system/coredns on context \"test-context\" (" + server.url() +
            ") was refused: deployments.apps \"coredns\" is forbidden: User \"jane\" cannot get resource \"deployments\" "
            "in API group \"apps\" in the namespace \"kube-system\" (grant the context's user that permission, or use a "
            "context whose user has it)");
}

TEST_CASE("kube cluster: a Secret's bytes never reach a message, nor a token", "[kube][kube-cluster][kube-secrets]") {
  FakeApiServer server;
  server.serve_discovery();
  server.routes().Get("/api/v1/namespaces/default/secrets/db", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"kind":"Secret","data":{"password":"aHVudGVyMg==")", "application/json");  // cut short
  });
  server.routes().Get("/api/v1/namespaces/default/secrets/denied", [](const httplib::Request&, httplib::Response& res) {
    res.status = 401;
    res.set_content(status_body(401, "Unauthorized", "Unauthorized"), "application/json");
  });
  server.start();
  auto credentials = std::make_shared<refit::test::TestCredentials>();
  credentials->tokens = {"s3cr3t-token-value"};
  KubeCluster cluster("prod", test_endpoint(server.url(), credentials));
  auto broken = api_error_of([&] { cluster.get({"v1", "Secret", "default", "db"}, ignore); });
  CHECK(std::string(broken.what()) == "get Secret default/db: the answer of context \"test-context\" (" + server.url() +
                                          ") is not JSON (it breaks off at byte 50 of 50)");
  auto denied = api_error_of([&] { cluster.get({"v1", "Secret", "default", "denied"}, ignore); });
  CHECK(denied.status == 401);
  CHECK_THAT(std::string(denied.what()), !Catch::Contains("s3cr3t"));
  CHECK_THAT(std::string(denied.what()), !Catch::Contains("aHVudGVyMg"));
}
