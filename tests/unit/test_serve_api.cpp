// refit sim serve end to end, in process: a served world (tests/cli/files/serve-kubectl.yaml, with
// the clock stopped so that only requests change it) and an HTTP client asking what kubectl and
// refit's backend ask.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "cluster/sim/sim_runtime.hpp"
#include "run/session.hpp"
#include "serve/sim_server.hpp"

using refit::serve::Json;

namespace {

struct ServedApi {
  explicit ServedApi(std::size_t watch_history = 10'000) {
    refit::run::prepare_vm(vm);
    runtime = std::make_unique<refit::sim::SimRuntime>(vm, world);
    runtime->load("tests/cli/files/serve-kubectl.yaml", std::nullopt);
    refit::serve::ServeOptions options;
    options.speed = 0;
    options.watch_history = watch_history;
    server = std::make_unique<refit::serve::SimServer>(*runtime, options);
    server->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
  }
  ~ServedApi() { server->stop(); }

  httplib::Result get(const std::string& path) { return client->Get(("/clusters/demo" + path).c_str()); }
  Json get_json(const std::string& path, int code = 200) {
    auto res = get(path);
    REQUIRE(res);
    INFO(path << ": " << res->body);
    CHECK(res->status == code);
    CHECK(res->get_header_value("Content-Type") == "application/json");
    return Json::parse(res->body);
  }
  Json send(const std::string& method, const std::string& path, const std::string& body, const std::string& type,
            int code) {
    std::string full = "/clusters/demo" + path;
    httplib::Result res = method == "POST"    ? client->Post(full.c_str(), body, type.c_str())
                          : method == "PUT"   ? client->Put(full.c_str(), body, type.c_str())
                          : method == "PATCH" ? client->Patch(full.c_str(), body, type.c_str())
                                              : client->Delete(full.c_str(), body, type.c_str());
    REQUIRE(res);
    INFO(method << " " << path << ": " << res->body);
    CHECK(res->status == code);
    return Json::parse(res->body);
  }
  // The lines of a watch that ends by its timeout (timeoutSeconds, or kubectl's ?timeout=).
  std::vector<Json> watch(const std::string& path) {
    std::string body;
    auto res = client->Get(("/clusters/demo" + path).c_str(), [&](const char* data, std::size_t n) {
      body.append(data, n);
      return true;
    });
    REQUIRE(res);
    CHECK(res->status == 200);
    std::vector<Json> events;
    std::istringstream lines(body);
    for (std::string line; std::getline(lines, line);) events.push_back(Json::parse(line));
    return events;
  }
  std::string pod_of(const std::string& app) {
    Json pods = get_json("/api/v1/namespaces/shop/pods?labelSelector=app%3D" + app);
    REQUIRE(pods["items"].size() >= 1);
    return pods["items"][0]["metadata"]["name"];
  }
  std::string resource_version() { return get_json("/api/v1/namespaces/shop/configmaps")["metadata"]["resourceVersion"]; }

  refit::lua::Vm vm;
  refit::sim::World world{1};
  std::unique_ptr<refit::sim::SimRuntime> runtime;
  std::unique_ptr<refit::serve::SimServer> server;
  std::unique_ptr<httplib::Client> client;
};

const std::string kJson = "application/json";
const std::string kMerge = "application/merge-patch+json";
const std::string kStrategic = "application/strategic-merge-patch+json";
const std::string kJsonPatch = "application/json-patch+json";
const std::string kApply = "application/apply-patch+yaml";

std::string config_map(const std::string& name, const std::string& value, const std::string& labels = "{}") {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","labels":)" + labels +
         R"(},"data":{"value":")" + value + R"("}})";
}

}  // namespace

TEST_CASE("get answers the object, and a Status for what is not there", "[serve][api]") {
  ServedApi w;
  Json node = w.get_json("/api/v1/nodes/pinned-1");
  CHECK(node["kind"] == "Node");
  CHECK(node["apiVersion"] == "v1");
  CHECK(node["metadata"]["labels"]["pool"] == "pinned");

  CHECK(w.get_json("/api/v1/namespaces/shop/pods/nothere", 404) ==
        Json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                        "message":"pods \"nothere\" not found","reason":"NotFound",
                        "details":{"name":"nothere","kind":"pods"},"code":404})"));
  CHECK(w.get_json("/apis/apps/v1/namespaces/shop/deployments/nothere", 404)["message"] ==
        "deployments.apps \"nothere\" not found");
  CHECK(w.get_json("/api/v1/namespaces/shop/widgets", 404)["message"] == "the server could not find the requested resource");
  CHECK(w.get_json("/api/v1/pods/ledger", 404)["reason"] == "NotFound");  // a namespaced object needs its namespace
  CHECK(w.get_json("/openapi/v3", 404)["kind"] == "Status");

  auto elsewhere = w.client->Get("/api/v1/pods");
  REQUIRE(elsewhere);
  CHECK(elsewhere->status == 404);
  CHECK(Json::parse(elsewhere->body)["message"] ==
        "the server could not find the requested resource: refit sim serve serves each cluster of the world under "
        "its own path (/clusters/demo)");
  auto other = w.client->Get("/clusters/prod/api/v1/pods");
  REQUIRE(other);
  CHECK(Json::parse(other->body)["message"] == "cluster \"prod\" is not in the served world (it serves /clusters/demo)");

  Json wrong = w.send("PUT", "/api/v1/namespaces/shop/configmaps", config_map("x", "1"), kJson, 405);
  CHECK(wrong["reason"] == "MethodNotAllowed");
  CHECK(w.get_json("/version") == Json::parse(R"({"major":"1","minor":"27","gitVersion":"v1.27.4"})"));
}

TEST_CASE("discovery: the legacy documents kubectl falls back to", "[serve][api]") {
  ServedApi w;
  Json core = w.get_json("/api");
  CHECK(core["kind"] == "APIVersions");
  CHECK(core["versions"] == Json::array({"v1"}));
  CHECK(w.get_json("/apis")["kind"] == "APIGroupList");
  Json apps = w.get_json("/apis/apps/v1");
  CHECK(apps["kind"] == "APIResourceList");
  CHECK(apps["groupVersion"] == "apps/v1");
  Json crontabs = w.get_json("/apis/stable.example.com/v1");
  REQUIRE(crontabs["resources"].size() == 2);
  CHECK(crontabs["resources"][0]["kind"] == "CronTab");
  CHECK(crontabs["resources"][0]["shortNames"] == Json::array({"ct"}));
  CHECK(crontabs["resources"][1]["name"] == "crontabs/status");
  CHECK(w.get_json("/apis/stable.example.com/v2", 404)["reason"] == "NotFound");
}

TEST_CASE("lists: selectors, paging, resourceVersion, items as the API server sends them", "[serve][api]") {
  ServedApi w;
  Json nodes = w.get_json("/api/v1/nodes");
  CHECK(nodes["kind"] == "NodeList");
  CHECK(nodes["apiVersion"] == "v1");
  REQUIRE(nodes["items"].size() == 3);
  CHECK_FALSE(nodes["items"][0].contains("kind"));  // built-in kinds' items carry no type
  CHECK_FALSE(nodes["items"][0].contains("apiVersion"));
  const std::string rv = nodes["metadata"]["resourceVersion"];
  CHECK(rv == std::to_string(w.world.find("demo")->store().resource_version()));

  Json first = w.get_json("/api/v1/nodes?limit=2");
  REQUIRE(first["items"].size() == 2);
  CHECK(first["items"][0]["metadata"]["name"] == "free-1");
  CHECK(first["items"][1]["metadata"]["name"] == "free-2");
  CHECK(first["metadata"]["remainingItemCount"] == 1);
  CHECK(first["metadata"]["resourceVersion"] == rv);
  // A change between pages: the next page shows the world as it is, at the first page's version.
  w.send("POST", "/api/v1/namespaces/shop/configmaps", config_map("between", "1"), kJson, 201);
  Json second = w.get_json("/api/v1/nodes?limit=2&continue=" + first["metadata"]["continue"].get<std::string>());
  REQUIRE(second["items"].size() == 1);
  CHECK(second["items"][0]["metadata"]["name"] == "pinned-1");
  CHECK_FALSE(second["metadata"].contains("continue"));
  CHECK(second["metadata"]["resourceVersion"] == rv);
  // Page by page, the count of what is left goes down, and the last page has neither.
  Json one = w.get_json("/api/v1/nodes?limit=1");
  CHECK(one["metadata"]["remainingItemCount"] == 2);
  Json two = w.get_json("/api/v1/nodes?limit=1&continue=" + one["metadata"]["continue"].get<std::string>());
  CHECK(two["items"][0]["metadata"]["name"] == "free-2");
  CHECK(two["metadata"]["remainingItemCount"] == 1);
  Json three = w.get_json("/api/v1/nodes?limit=1&continue=" + two["metadata"]["continue"].get<std::string>());
  CHECK(three["items"][0]["metadata"]["name"] == "pinned-1");
  CHECK_FALSE(three["metadata"].contains("remainingItemCount"));
  CHECK_FALSE(three["metadata"].contains("continue"));
  // The count is the first page's, counted down (the API server's counts the first page's snapshot):
  // objects created meanwhile are served but not counted, and a page with more after it says at least 1.
  Json twelve = w.get_json("/api/v1/nodes?limit=2");
  CHECK(twelve["metadata"]["remainingItemCount"] == 1);
  w.send("POST", "/api/v1/nodes", R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"zz-1"}})", kJson, 201);
  w.send("POST", "/api/v1/nodes", R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"zz-2"}})", kJson, 201);
  Json next = w.get_json("/api/v1/nodes?limit=1&continue=" + twelve["metadata"]["continue"].get<std::string>());
  CHECK(next["items"][0]["metadata"]["name"] == "pinned-1");
  CHECK(next["metadata"]["remainingItemCount"] == 1);
  Json last = w.get_json("/api/v1/nodes?limit=5&continue=" + next["metadata"]["continue"].get<std::string>());
  REQUIRE(last["items"].size() == 2);
  CHECK(last["items"][1]["metadata"]["name"] == "zz-2");
  CHECK_FALSE(last["metadata"].contains("continue"));
  CHECK(w.get_json("/api/v1/nodes?continue=garbage", 400)["message"] ==
        "continue: the continue token is not valid (it was not issued by this server)");
  CHECK(w.get_json("/api/v1/nodes?limit=-1", 400)["message"] == "limit: invalid value \"-1\": a non-negative integer");

  Json web = w.get_json("/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb");
  CHECK(web["items"].size() == 2);
  Json on_pinned = w.get_json("/api/v1/pods?fieldSelector=spec.nodeName%3Dpinned-1");
  std::vector<std::string> names;
  for (const Json& pod : on_pinned["items"]) names.push_back(pod["metadata"]["name"]);
  REQUIRE(names.size() == 2);
  CHECK(names[0] == "node-exporter-pinned-1");
  CHECK(names[1].starts_with("ledger-"));
  CHECK(w.get_json("/api/v1/pods?labelSelector=app+in+(a", 400)["reason"] == "BadRequest");

  Json crontabs = w.get_json("/apis/stable.example.com/v1/crontabs");  // custom resources keep their type
  REQUIRE(crontabs["items"].size() == 1);
  CHECK(crontabs["items"][0]["kind"] == "CronTab");
  CHECK(crontabs["items"][0]["apiVersion"] == "stable.example.com/v1");
}

TEST_CASE("watches stream the changes after a resourceVersion", "[serve][api][watch]") {
  ServedApi w;
  std::string rv = w.resource_version();
  w.send("POST", "/api/v1/namespaces/shop/configmaps", config_map("a", "1", R"({"team":"blue"})"), kJson, 201);
  w.send("PATCH", "/api/v1/namespaces/shop/configmaps/a", R"({"data":{"value":"2"}})", kMerge, 200);
  w.send("DELETE", "/api/v1/namespaces/shop/configmaps/a", "", kJson, 200);

  auto events = w.watch("/api/v1/namespaces/shop/configmaps?watch=1&timeoutSeconds=1&resourceVersion=" + rv);
  REQUIRE(events.size() == 3);
  CHECK(events[0]["type"] == "ADDED");
  CHECK(events[0]["object"]["kind"] == "ConfigMap");
  CHECK(events[1]["type"] == "MODIFIED");
  CHECK(events[1]["object"]["data"]["value"] == "2");
  CHECK(events[2]["type"] == "DELETED");

  // Without a resourceVersion: the current state first, as ADDED events.
  auto now = w.watch("/api/v1/nodes?watch=true&timeout=300ms&fieldSelector=metadata.name%3Dfree-2");
  REQUIRE(now.size() == 1);
  CHECK(now[0]["type"] == "ADDED");
  CHECK(now[0]["object"]["metadata"]["name"] == "free-2");

  // Bookmarks: the last event says how far the watch got.
  auto marked = w.watch("/api/v1/namespaces/shop/configmaps?watch=1&timeout=300ms&allowWatchBookmarks=true"
                        "&resourceVersion=" + rv);
  REQUIRE(marked.size() == 4);
  CHECK(marked.back()["type"] == "BOOKMARK");
  CHECK(marked.back()["object"]["metadata"]["resourceVersion"] == w.resource_version());
}

TEST_CASE("a watch with a selector sees objects start and stop matching", "[serve][api][watch]") {
  ServedApi w;
  w.send("POST", "/api/v1/namespaces/shop/configmaps", config_map("a", "1", R"({"team":"blue"})"), kJson, 201);
  std::string rv = w.resource_version();
  w.send("PATCH", "/api/v1/namespaces/shop/configmaps/a", R"({"metadata":{"labels":{"team":"red"}}})", kMerge, 200);
  w.send("PATCH", "/api/v1/namespaces/shop/configmaps/a", R"({"metadata":{"labels":{"team":"blue"}}})", kMerge, 200);
  auto events = w.watch("/api/v1/namespaces/shop/configmaps?watch=1&timeout=300ms&labelSelector=team%3Dblue"
                        "&resourceVersion=" + rv);
  REQUIRE(events.size() == 2);
  CHECK(events[0]["type"] == "DELETED");
  CHECK(events[0]["object"]["metadata"]["labels"]["team"] == "blue");  // its last matching state
  CHECK(events[1]["type"] == "ADDED");
}

TEST_CASE("a watch from a resourceVersion older than the history gets 410 Gone", "[serve][api][watch]") {
  ServedApi w(2);
  std::string rv = w.resource_version();
  for (const char* name : {"a", "b", "c"}) {
    w.send("POST", "/api/v1/namespaces/shop/configmaps", config_map(name, "1"), kJson, 201);
  }
  auto events = w.watch("/api/v1/namespaces/shop/configmaps?watch=1&timeoutSeconds=5&resourceVersion=" + rv);
  REQUIRE(events.size() == 1);
  CHECK(events[0]["type"] == "ERROR");
  CHECK(events[0]["object"]["code"] == 410);
  CHECK(events[0]["object"]["reason"] == "Expired");
  CHECK(events[0]["object"]["message"] ==
        fmt::format("too old resource version: {} ({})", rv, std::stoull(rv) + 1));
}

TEST_CASE("dryRun=All answers what would be stored and changes nothing", "[serve][api][dryrun]") {
  ServedApi w;
  std::string rv = w.resource_version();
  Json created = w.send("POST", "/api/v1/namespaces/shop/configmaps?dryRun=All", config_map("dry", "1"), kJson, 201);
  CHECK(created["metadata"]["name"] == "dry");
  CHECK(created["metadata"]["namespace"] == "shop");
  CHECK(created["metadata"].contains("uid"));
  w.get_json("/api/v1/namespaces/shop/configmaps/dry", 404);

  w.send("POST", "/api/v1/namespaces/shop/configmaps", config_map("wet", "1"), kJson, 201);
  rv = w.resource_version();
  Json patched = w.send("PATCH", "/api/v1/namespaces/shop/configmaps/wet?dryRun=All", R"({"data":{"value":"2"}})",
                        kMerge, 200);
  CHECK(patched["data"]["value"] == "2");
  w.send("DELETE", "/api/v1/namespaces/shop/configmaps/wet?dryRun=All", "", kJson, 200);
  w.send("DELETE", "/api/v1/namespaces/shop/configmaps/wet", R"({"dryRun":["All"]})", kJson, 200);
  CHECK(w.get_json("/api/v1/namespaces/shop/configmaps/wet")["data"]["value"] == "1");
  CHECK(w.resource_version() == rv);
  CHECK(w.send("POST", "/api/v1/namespaces/shop/configmaps?dryRun=Some", config_map("x", "1"), kJson, 400)["message"] ==
        "dryRun: Unsupported value: \"Some\": supported values: \"All\"");
}

TEST_CASE("creates and updates: namespaces, names, conflicts", "[serve][api]") {
  ServedApi w;
  Json created = w.send("POST", "/api/v1/namespaces/shop/configmaps", config_map("c", "1"), kJson, 201);
  CHECK(w.send("POST", "/api/v1/namespaces/shop/configmaps", config_map("c", "1"), kJson, 409)["message"] ==
        "configmaps \"c\" already exists");
  CHECK(w.send("POST", "/api/v1/namespaces/nowhere/configmaps", config_map("c", "1"), kJson, 404)["message"] ==
        "namespaces \"nowhere\" not found");
  Json generated = w.send("POST", "/api/v1/namespaces/shop/configmaps",
                          R"({"metadata":{"generateName":"gen-"},"data":{}})", kJson, 201);
  CHECK(generated["metadata"]["name"].get<std::string>().size() == 9);
  CHECK(w.send("POST", "/api/v1/namespaces/shop/configmaps", R"({"kind":"Secret","metadata":{"name":"s"}})", kJson,
               400)["message"] == "the object's kind Secret does not match the resource configmaps (kind ConfigMap)");

  CHECK(w.get_json("/api/v1/namespaces/shop/configmaps?fieldSelector=metadata.name%3Dc")["items"][0]["data"]["value"] == "1");
  Json stale = created;
  stale["data"]["value"] = "2";
  w.send("PUT", "/api/v1/namespaces/shop/configmaps/c", stale.dump(), kJson, 200);  // at the current version
  // A list shows the change (its items are kept between lists only while their object is unchanged).
  CHECK(w.get_json("/api/v1/namespaces/shop/configmaps?fieldSelector=metadata.name%3Dc")["items"][0]["data"]["value"] == "2");
  Json conflict = w.send("PUT", "/api/v1/namespaces/shop/configmaps/c", stale.dump(), kJson, 409);  // now stale
  CHECK(conflict["reason"] == "Conflict");
  CHECK(conflict["message"] ==
        "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes "
        "to the latest version and try again");
  CHECK(w.send("PUT", "/api/v1/namespaces/shop/configmaps/other", stale.dump(), kJson, 400)["message"] ==
        "the name of the object (c) does not match the name on the URL (other)");
}

TEST_CASE("patches: strategic merges containers by name, merge and JSON patches, server-side apply",
          "[serve][api]") {
  ServedApi w;
  Json patched = w.send("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web",
                        R"({"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"}]}}}})",
                        kStrategic, 200);
  Json containers = patched["spec"]["template"]["spec"]["containers"];
  REQUIRE(containers.size() == 2);
  CHECK(containers[0]["image"] == "nginx:1.26");
  CHECK(containers[0]["ports"][0]["containerPort"] == 80);
  CHECK(containers[1]["name"] == "sidecar");
  CHECK(patched["metadata"]["generation"] == 2);

  Json json_patched = w.send("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web",
                             R"([{"op":"replace","path":"/spec/replicas","value":3}])", kJsonPatch, 200);
  CHECK(json_patched["spec"]["replicas"] == 3);
  CHECK(w.send("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web",
               R"([{"op":"test","path":"/spec/replicas","value":9}])", kJsonPatch, 422)["reason"] == "Invalid");

  CHECK(w.send("PATCH", "/apis/stable.example.com/v1/namespaces/shop/crontabs/nightly", R"({"spec":{}})", kStrategic,
               415)["message"] ==
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, "
        "application/merge-patch+json, application/apply-patch+yaml");
  Json merged = w.send("PATCH", "/apis/stable.example.com/v1/namespaces/shop/crontabs/nightly",
                       R"({"spec":{"cronSpec":"0 4 * * *"}})", kMerge, 200);
  CHECK(merged["spec"]["cronSpec"] == "0 4 * * *");
  CHECK(merged["spec"]["image"] == "registry.example.com/backup:1.0");

  std::string manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  mode: blue\n";
  CHECK(w.send("PATCH", "/api/v1/namespaces/shop/configmaps/applied", manifest, kApply, 400)["message"] ==
        "fieldManager: Required value: is required for apply patch");
  Json applied = w.send("PATCH", "/api/v1/namespaces/shop/configmaps/applied?fieldManager=test", manifest, kApply, 201);
  CHECK(applied["data"]["mode"] == "blue");
  Json reapplied = w.send("PATCH", "/api/v1/namespaces/shop/configmaps/applied?fieldManager=test&force=true",
                          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  mode: green\n", kApply, 200);
  CHECK(reapplied["data"]["mode"] == "green");
  CHECK(w.send("PATCH", "/api/v1/namespaces/shop/configmaps/applied", "{}", "text/plain", 415)["reason"] ==
        "UnsupportedMediaType");
}

TEST_CASE("the status subresource changes .status only", "[serve][api]") {
  ServedApi w;
  Json ns = w.get_json("/api/v1/namespaces/shop/status");
  Json labels = ns["metadata"].value("labels", Json());
  ns["status"] = {{"phase", "Terminating"}};
  ns["metadata"]["labels"] = {{"ignored", "yes"}};
  Json updated = w.send("PUT", "/api/v1/namespaces/shop/status", ns.dump(), kJson, 200);
  CHECK(updated["status"] == Json::parse(R"({"phase":"Terminating"})"));
  CHECK(updated["metadata"].value("labels", Json()) == labels);
  Json patched = w.send("PATCH", "/api/v1/namespaces/shop/status", R"({"status":{"phase":"Active"}})", kMerge, 200);
  CHECK(patched["status"]["phase"] == "Active");
  CHECK(w.send("PUT", "/api/v1/namespaces/shop/status", ns.dump(), kJson, 409)["reason"] == "Conflict");  // stale
  CHECK(w.get_json("/api/v1/namespaces/shop/configmaps/x/status", 404)["reason"] == "NotFound");  // no such subresource
}

TEST_CASE("evictions honour disruption budgets", "[serve][api]") {
  ServedApi w;
  std::string ledger = w.pod_of("ledger");
  std::string eviction = R"({"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":")" + ledger + R"("}})";
  for (const char* dry : {"?dryRun=All", ""}) {
    Json blocked = w.send("POST", "/api/v1/namespaces/shop/pods/" + ledger + "/eviction" + dry, eviction, kJson, 429);
    CHECK(blocked["reason"] == "TooManyRequests");
    CHECK(blocked["message"] == "Cannot evict pod shop/" + ledger +
                                    " as it would violate the pod's disruption budget shop/ledger");
  }
  std::string web = w.pod_of("web");
  std::string web_eviction = R"({"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":")" + web + R"("}})";
  CHECK(w.send("POST", "/api/v1/namespaces/shop/pods/" + web + "/eviction?dryRun=All", web_eviction, kJson, 201) ==
        Json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201})"));
  w.get_json("/api/v1/namespaces/shop/pods/" + web);
  w.send("POST", "/api/v1/namespaces/shop/pods/" + web + "/eviction", web_eviction, kJson, 201);
  w.get_json("/api/v1/namespaces/shop/pods/" + web, 404);
  CHECK(w.send("POST", "/api/v1/namespaces/shop/pods/" + ledger + "/eviction", web_eviction, kJson, 400)["message"] ==
        "name in URL does not match name in Eviction object (" + ledger + " and " + web + ")");
}

TEST_CASE("the scale subresource reads and sets spec.replicas", "[serve][api]") {
  ServedApi w;
  Json scale = w.get_json("/apis/apps/v1/namespaces/shop/deployments/web/scale");
  CHECK(scale["kind"] == "Scale");
  CHECK(scale["apiVersion"] == "autoscaling/v1");
  CHECK(scale["spec"] == Json::parse(R"({"replicas":2})"));
  CHECK(scale["status"] == Json::parse(R"({"replicas":2,"selector":"app=web"})"));
  Json patched = w.send("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale", R"({"spec":{"replicas":3}})",
                        kMerge, 200);
  CHECK(patched["spec"]["replicas"] == 3);
  CHECK(w.get_json("/apis/apps/v1/namespaces/shop/deployments/web")["spec"]["replicas"] == 3);
  scale["spec"]["replicas"] = 1;  // read before the patch: stale
  CHECK(w.send("PUT", "/apis/apps/v1/namespaces/shop/deployments/web/scale", scale.dump(), kJson, 409)["reason"] ==
        "Conflict");
  CHECK(w.send("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale", R"({"spec":{"replicas":-1}})", kMerge,
               422)["message"] == "Deployment \"web\" is invalid: spec.replicas: Invalid value: must be a non-negative integer");
  CHECK(w.get_json("/api/v1/namespaces/shop/configmaps/x/scale", 404)["reason"] == "NotFound");
}

TEST_CASE("deletes: options, preconditions, collections", "[serve][api]") {
  ServedApi w;
  w.send("POST", "/api/v1/namespaces/shop/configmaps", config_map("a", "1", R"({"sweep":"yes"})"), kJson, 201);
  w.send("POST", "/api/v1/namespaces/shop/configmaps", config_map("b", "1", R"({"sweep":"yes"})"), kJson, 201);
  w.send("POST", "/api/v1/namespaces/shop/configmaps", config_map("c", "1"), kJson, 201);
  CHECK(w.send("DELETE", "/api/v1/namespaces/shop/configmaps/a?propagationPolicy=Sometimes", "", kJson, 400)["message"] ==
        "propagationPolicy: Unsupported value: \"Sometimes\": supported values: \"Foreground\", \"Background\", \"Orphan\"");
  Json refused = w.send("DELETE", "/api/v1/namespaces/shop/configmaps/a", R"({"preconditions":{"uid":"other"}})", kJson, 409);
  CHECK(refused["message"].get<std::string>().starts_with("Precondition failed: UID in precondition: other, UID in object meta: "));
  Json swept = w.send("DELETE", "/api/v1/namespaces/shop/configmaps?labelSelector=sweep%3Dyes", "", kJson, 200);
  CHECK(swept["kind"] == "ConfigMapList");
  CHECK(swept["items"].size() == 2);
  CHECK(w.get_json("/api/v1/namespaces/shop/configmaps")["items"].size() == 1);
  Json gone = w.send("DELETE", "/api/v1/namespaces/shop/configmaps/c", R"({"propagationPolicy":"Foreground"})", kJson, 200);
  CHECK(gone["metadata"]["name"] == "c");
  CHECK(w.send("DELETE", "/api/v1/namespaces/shop/configmaps/c", "", kJson, 404)["message"] == "configmaps \"c\" not found");
}

TEST_CASE("refit's dump endpoint answers the whole world", "[serve][api]") {
  ServedApi w;
  auto res = w.client->Get("/refit/v1/dump");
  REQUIRE(res);
  CHECK(res->status == 200);
  Json dump = Json::parse(res->body);
  CHECK(dump["clusters"]["demo"]["version"] == "v1.27.4");
  CHECK(dump == w.runtime->dump());
}
