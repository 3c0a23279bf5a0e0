#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cluster/kinds.hpp"
#include "cluster/selectors.hpp"
#include "cluster/sim/object_store.hpp"

using refit::sim::Change;
using refit::sim::ChangeType;
using refit::sim::Json;
using refit::sim::ListQuery;
using refit::sim::ObjectRef;
using refit::sim::ObjectStore;
using refit::sim::StoreError;

namespace {

// A store whose virtual clock the test sets by hand.
struct Fixture {
  std::int64_t now_ms = 0;
  ObjectStore store{[this] { return now_ms; }};
};

Json pod(const std::string& ns, const std::string& name, const std::string& node = {}, Json labels = Json::object()) {
  Json obj = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"namespace", ns}, {"name", name}, {"labels", std::move(labels)}}},
              {"spec", {{"containers", {{{"name", "main"}, {"image", "busybox:1"}}}}}}};
  if (!node.empty()) obj["spec"]["nodeName"] = node;
  return obj;
}

Json deployment(const std::string& ns, const std::string& name) {
  return Json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": ")" + name + R"(", "namespace": ")" + ns + R"("},
                         "spec": {"replicas": 2, "template": {"spec": {"containers": [
                           {"name": "coredns", "image": "coredns:1.8.0", "args": ["-conf", "/etc/Corefile"]},
                           {"name": "sidecar", "image": "sidecar:1"}]}}},
                         "status": {"readyReplicas": 2}})");
}

ObjectRef coredns_ref() { return {"apps/v1", "Deployment", "kube-system", "coredns"}; }

std::vector<std::string> names(const ObjectStore& store, const ListQuery& query) {
  std::vector<std::string> out;
  store.list(query, [&](const Json& obj) {
    std::string ns = obj["metadata"].value("namespace", "");
    out.push_back(ns.empty() ? obj["metadata"]["name"].get<std::string>() : ns + "/" + obj["metadata"]["name"].get<std::string>());
  });
  return out;
}

template <class Fn>
StoreError store_error(Fn&& fn) {
  try {
    fn();
  } catch (const StoreError& error) {
    return error;
  }
  FAIL("expected a StoreError");
  throw std::logic_error("unreachable");
}

std::string rv(const Json& obj) { return obj["metadata"]["resourceVersion"].get<std::string>(); }
std::int64_t generation(const Json& obj) { return obj["metadata"]["generation"].get<std::int64_t>(); }

}  // namespace

// --- kinds -----------------------------------------------------------------------------------------

TEST_CASE("kinds: groups and versions of apiVersion", "[kinds]") {
  CHECK(refit::group_of("v1") == "");
  CHECK(refit::group_of("apps/v1") == "apps");
  CHECK(refit::group_of("networking.k8s.io/v1beta1") == "networking.k8s.io");
  CHECK(refit::version_of("v1") == "v1");
  CHECK(refit::version_of("apps/v1beta2") == "v1beta2");
}

TEST_CASE("kinds: built-in defaults and scopes", "[kinds]") {
  struct Expected {
    const char *kind, *api_version, *plural;
    bool namespaced;
  };
  for (const Expected& e : std::vector<Expected>{
           {"Namespace", "v1", "namespaces", false},
           {"Node", "v1", "nodes", false},
           {"Pod", "v1", "pods", true},
           {"Event", "v1", "events", true},
           {"Deployment", "apps/v1", "deployments", true},
           {"CronJob", "batch/v1", "cronjobs", true},
           {"PodDisruptionBudget", "policy/v1", "poddisruptionbudgets", true},
           {"Lease", "coordination.k8s.io/v1", "leases", true},
           {"Ingress", "networking.k8s.io/v1", "ingresses", true},
           {"CustomResourceDefinition", "apiextensions.k8s.io/v1", "customresourcedefinitions", false},
           {"HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers", true},
           {"ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "clusterrolebindings", false},
           {"PodSecurityPolicy", "policy/v1beta1", "podsecuritypolicies", false},
           {"CSIDriver", "storage.k8s.io/v1", "csidrivers", false},
           {"PriorityClass", "scheduling.k8s.io/v1", "priorityclasses", false},
           {"ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", false},
           {"APIService", "apiregistration.k8s.io/v1", "apiservices", false},
       }) {
    INFO(e.kind);
    const refit::BuiltinKind* kind = refit::find_builtin_kind(e.kind);
    REQUIRE(kind != nullptr);
    CHECK(kind->api_version == e.api_version);
    CHECK(kind->plural == e.plural);
    CHECK(kind->namespaced == e.namespaced);
    CHECK(refit::resolve_api_version("", e.kind) == e.api_version);
  }
  CHECK(refit::builtin_kinds().size() >= 30);
  CHECK(refit::find_builtin_kind("Widget") == nullptr);
  CHECK(refit::resolve_api_version("example.com/v1", "Widget") == "example.com/v1");
  CHECK_THROWS_AS(refit::resolve_api_version("", "Widget"), refit::UnknownKindError);
  CHECK_THROWS_WITH(refit::resolve_api_version("", "Foo"), "kind Foo is not built in: give its apiVersion");
}

TEST_CASE("kinds: storage groups and scopes by group", "[kinds]") {
  CHECK(refit::storage_group_of("extensions", "Deployment") == "apps");
  CHECK(refit::storage_group_of("extensions", "Ingress") == "networking.k8s.io");
  CHECK(refit::storage_group_of("events.k8s.io", "Event") == "");
  CHECK(refit::storage_group_of("example.com", "Deployment") == "example.com");
  CHECK(refit::builtin_is_namespaced("", "Node") == false);
  CHECK(refit::builtin_is_namespaced("apps", "Deployment") == true);
  CHECK_FALSE(refit::builtin_is_namespaced("example.com", "Deployment"));  // a custom kind of that name
}

// --- create / get ----------------------------------------------------------------------------------

TEST_CASE("create sets server-managed metadata", "[store]") {
  Fixture f;
  f.now_ms = 90'061'000;
  const Json& stored = f.store.create(pod("default", "web-1"));
  CHECK(stored["metadata"]["uid"] == "00000000-0000-4000-8000-000000000001");
  CHECK(stored["metadata"]["resourceVersion"] == "1");
  CHECK(stored["metadata"]["creationTimestamp"] == "2026-01-02T01:01:01Z");
  CHECK(stored["metadata"]["generation"] == 1);
  CHECK(f.store.size() == 1);

  const Json& second = f.store.create(pod("default", "web-2"));
  CHECK(second["metadata"]["uid"] == "00000000-0000-4000-8000-000000000002");
  CHECK(second["metadata"]["resourceVersion"] == "2");
}

TEST_CASE("create keeps a given uid and creationTimestamp but owns resourceVersion and generation", "[store]") {
  Fixture f;
  Json obj = pod("default", "snap");
  obj["metadata"]["uid"] = "6f1c9a43-0000-4000-8000-00000000abcd";
  obj["metadata"]["creationTimestamp"] = "2021-05-01T10:00:00Z";
  obj["metadata"]["resourceVersion"] = "987654";
  obj["metadata"]["generation"] = 7;
  const Json& stored = f.store.create(obj);
  CHECK(stored["metadata"]["uid"] == "6f1c9a43-0000-4000-8000-00000000abcd");
  CHECK(stored["metadata"]["creationTimestamp"] == "2021-05-01T10:00:00Z");
  CHECK(stored["metadata"]["resourceVersion"] == "1");
  CHECK(stored["metadata"]["generation"] == 1);
}

TEST_CASE("create rejects incomplete objects, naming them", "[store]") {
  Fixture f;
  auto invalid = [&](Json obj) { return store_error([&] { f.store.create(std::move(obj)); }); };

  Json no_api_version = pod("default", "p");
  no_api_version.erase("apiVersion");
  StoreError e = invalid(no_api_version);
  CHECK(e.code == StoreError::Code::Invalid);
  CHECK(std::string(e.what()) == "Pod p: apiVersion is required");

  Json no_kind = pod("default", "p");
  no_kind.erase("kind");
  CHECK(std::string(invalid(no_kind).what()) == "object p: kind is required");

  Json no_name = pod("default", "p");
  no_name["metadata"].erase("name");
  CHECK(std::string(invalid(no_name).what()) == "Pod: metadata.name is required");

  Json no_namespace = pod("default", "p");
  no_namespace["metadata"].erase("namespace");
  CHECK(std::string(invalid(no_namespace).what()) == "Pod p: metadata.namespace is required (Pod is namespaced)");

  CHECK(std::string(invalid(Json::array()).what()) == "an object must be a JSON object, got array");
  CHECK(f.store.size() == 0);
}

TEST_CASE("create refuses duplicates", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  StoreError e = store_error([&] { f.store.create(deployment("kube-system", "coredns")); });
  CHECK(e.code == StoreError::Code::AlreadyExists);
  CHECK(std::string(e.what()) == "Deployment kube-system/coredns already exists");
  f.store.create(deployment("default", "coredns"));  // another namespace is another object
  CHECK(f.store.size() == 2);
}

TEST_CASE("cluster-scoped kinds drop a namespace and ignore it in refs", "[store]") {
  Fixture f;
  f.store.create({{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}, {"namespace", "default"}}}});
  const Json* node = f.store.get({"", "Node", "whatever", "n1"});
  REQUIRE(node != nullptr);
  CHECK_FALSE((*node)["metadata"].contains("namespace"));
  CHECK(names(f.store, {"", "Node", "kube-system", "", ""}) == std::vector<std::string>{"n1"});
}

TEST_CASE("get resolves refs and returns nullptr when absent", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  const Json* found = f.store.get({"", "Deployment", "kube-system", "coredns"});
  REQUIRE(found != nullptr);
  CHECK((*found)["spec"]["replicas"] == 2);
  CHECK(f.store.get(coredns_ref()) == found);  // same object, not a copy
  CHECK(f.store.get({"", "Deployment", "default", "coredns"}) == nullptr);
  CHECK(f.store.get({"", "DaemonSet", "kube-system", "coredns"}) == nullptr);
  CHECK(f.store.get({"example.com/v1", "Widget", "default", "w"}) == nullptr);
  CHECK_THROWS_WITH(f.store.get({"", "Widget", "default", "w"}), "kind Widget is not built in: give its apiVersion");
  StoreError e = store_error([&] { f.store.get({"", "Deployment", "", "coredns"}); });
  CHECK(e.code == StoreError::Code::Invalid);
  CHECK(std::string(e.what()) == "Deployment coredns: a namespace is required (Deployment is namespaced)");
}

// --- identity: group, not version --------------------------------------------------------------

TEST_CASE("identity is the group, not the version", "[store]") {
  Fixture f;
  Json ingress = {{"apiVersion", "networking.k8s.io/v1beta1"},
                  {"kind", "Ingress"},
                  {"metadata", {{"namespace", "web"}, {"name", "shop"}}},
                  {"spec", {{"backend", {{"serviceName", "shop"}, {"servicePort", 80}}}}}};
  f.store.create(ingress);

  const Json* found = f.store.get({"networking.k8s.io/v1", "Ingress", "web", "shop"});
  REQUIRE(found != nullptr);
  CHECK((*found)["apiVersion"] == "networking.k8s.io/v1beta1");  // what it was written with
  CHECK(f.store.get({"", "Ingress", "web", "shop"}) == found);

  std::vector<std::string> versions;
  f.store.list({"networking.k8s.io/v1", "Ingress", "", "", ""},
               [&](const Json& obj) { versions.push_back(obj["apiVersion"].get<std::string>()); });
  CHECK(versions == std::vector<std::string>{"networking.k8s.io/v1beta1"});

  ingress["apiVersion"] = "networking.k8s.io/v1";
  CHECK(store_error([&] { f.store.create(ingress); }).code == StoreError::Code::AlreadyExists);

  // Another group is another kind.
  CHECK(f.store.get({"example.com/v1", "Ingress", "web", "shop"}) == nullptr);
}

TEST_CASE("kinds once served from two groups share storage", "[store]") {
  Fixture f;
  Json old = deployment("default", "legacy");
  old["apiVersion"] = "extensions/v1beta1";
  f.store.create(old);
  const Json* found = f.store.get({"apps/v1", "Deployment", "default", "legacy"});
  REQUIRE(found != nullptr);
  CHECK((*found)["apiVersion"] == "extensions/v1beta1");
  CHECK(f.store.dump().contains("apps/Deployment"));
}

TEST_CASE("applying a newer apiVersion migrates the stored object", "[store]") {
  Fixture f;
  f.store.create({{"apiVersion", "policy/v1beta1"},
                  {"kind", "PodDisruptionBudget"},
                  {"metadata", {{"namespace", "db"}, {"name", "pg"}}},
                  {"spec", {{"minAvailable", 1}}}});
  const Json& applied = f.store.apply({{"apiVersion", "policy/v1"},
                                       {"kind", "PodDisruptionBudget"},
                                       {"metadata", {{"namespace", "db"}, {"name", "pg"}}}});
  CHECK(applied["apiVersion"] == "policy/v1");
  CHECK(applied["spec"]["minAvailable"] == 1);
}

// --- list ------------------------------------------------------------------------------------------

TEST_CASE("list orders by namespace then name and filters namespaces", "[store]") {
  Fixture f;
  for (auto [ns, name] : std::vector<std::pair<std::string, std::string>>{
           {"b", "z"}, {"a", "y"}, {"b", "a"}, {"a", "x"}, {"ab", "m"}, {"c", "q"}}) {
    f.store.create(pod(ns, name));
  }
  f.store.create(deployment("a", "not-a-pod"));
  CHECK(names(f.store, {"", "Pod", "", "", ""}) == std::vector<std::string>{"a/x", "a/y", "ab/m", "b/a", "b/z", "c/q"});
  CHECK(names(f.store, {"v1", "Pod", "a", "", ""}) == std::vector<std::string>{"a/x", "a/y"});
  CHECK(names(f.store, {"", "Pod", "b", "", ""}) == std::vector<std::string>{"b/a", "b/z"});
  CHECK(names(f.store, {"", "Pod", "nope", "", ""}).empty());
  CHECK(names(f.store, {"", "Pod", "", "", "metadata.namespace=ab"}) == std::vector<std::string>{"ab/m"});
  CHECK(names(f.store, {"", "Pod", "a", "", "metadata.namespace=b"}).empty());
  CHECK(names(f.store, {"", "Secret", "", "", ""}).empty());
  CHECK(names(f.store, {"example.com/v1", "Widget", "", "", ""}).empty());
  CHECK_THROWS_WITH(f.store.list({"", "", "", "", ""}, [](const Json&) {}), "a list needs a kind");
}

TEST_CASE("list with label selectors", "[store]") {
  Fixture f;
  f.store.create(pod("default", "web-1", "", {{"app", "web"}, {"tier", "fe"}}));
  f.store.create(pod("default", "web-2", "", {{"app", "web"}, {"tier", "be"}, {"canary", "true"}}));
  f.store.create(pod("default", "db-1", "", {{"app", "db"}}));
  f.store.create(pod("default", "bare"));
  auto by_labels = [&](const std::string& selector) { return names(f.store, {"", "Pod", "default", selector, ""}); };
  CHECK(by_labels("app=web") == std::vector<std::string>{"default/web-1", "default/web-2"});
  CHECK(by_labels("app!=web") == std::vector<std::string>{"default/bare", "default/db-1"});
  CHECK(by_labels("tier in (fe,be),!canary") == std::vector<std::string>{"default/web-1"});
  CHECK(by_labels("app notin (web)") == std::vector<std::string>{"default/bare", "default/db-1"});
  CHECK(by_labels("canary") == std::vector<std::string>{"default/web-2"});
  CHECK_THROWS_AS(by_labels("app in (web"), refit::SelectorError);
}

TEST_CASE("label equalities are answered from the label index, which follows every write", "[store]") {
  Fixture f;
  f.store.create(pod("a", "m1", "", {{"pool", "md-0"}, {"cluster", "c1"}}));
  f.store.create(pod("b", "m2", "", {{"pool", "md-0"}, {"cluster", "c2"}}));
  f.store.create(pod("a", "m3", "", {{"pool", "md-1"}, {"cluster", "c1"}}));
  auto query = [&](const std::string& ns, const std::string& selector) { return names(f.store, {"", "Pod", ns, selector, ""}); };
  CHECK(query("", "pool=md-0") == std::vector<std::string>{"a/m1", "b/m2"});
  CHECK(query("a", "pool=md-0") == std::vector<std::string>{"a/m1"});
  CHECK(query("", "pool in (md-1),cluster==c1") == std::vector<std::string>{"a/m3"});
  CHECK(query("", "pool=md-0,cluster=c9").empty());
  CHECK(query("", "pool=md-9").empty());
  // relabelled, unlabelled and removed objects leave their old entries
  f.store.merge_patch({"", "Pod", "a", "m1"}, {{"metadata", {{"labels", {{"pool", "md-1"}}}}}});
  CHECK(query("", "pool=md-0") == std::vector<std::string>{"b/m2"});
  CHECK(query("", "pool=md-1") == std::vector<std::string>{"a/m1", "a/m3"});
  CHECK(query("", "cluster=c1") == std::vector<std::string>{"a/m1", "a/m3"});
  f.store.merge_patch({"", "Pod", "a", "m1"}, {{"metadata", {{"labels", nullptr}}}});
  CHECK(query("", "cluster=c1") == std::vector<std::string>{"a/m3"});
  f.store.remove({"", "Pod", "a", "m3"});
  CHECK(query("", "pool=md-1").empty());
  // an equality combined with other operators still checks them all
  CHECK(query("", "pool=md-0,cluster!=c2").empty());
}

TEST_CASE("observers learn which changes only patched the status", "[store]") {
  for (bool wants_old : {false, true}) {
    Fixture f;
    std::vector<bool> status_only;
    f.store.set_observer([&](const refit::sim::Change& c) { status_only.push_back(c.status_only); }, wants_old);
    f.store.create(deployment("kube-system", "coredns"));
    f.store.patch_status(coredns_ref(), {{"readyReplicas", 7}});
    f.store.merge_patch(coredns_ref(), {{"spec", {{"replicas", 3}}}});
    f.store.merge_patch(coredns_ref(), {{"metadata", {{"labels", {{"a", "b"}}}}}});
    f.store.remove(coredns_ref());
    CHECK(status_only == std::vector<bool>{false, true, false, false, false});
  }
}

TEST_CASE("list with field selectors, through the node index and without it", "[store]") {
  Fixture f;
  f.store.create(pod("a", "p1", "n1"));
  f.store.create(pod("b", "p2", "n1"));
  f.store.create(pod("a", "p3", "n2"));
  f.store.create(pod("a", "pending"));
  f.store.patch_status({"", "Pod", "a", "p1"}, {{"phase", "Running"}});
  f.store.patch_status({"", "Pod", "b", "p2"}, {{"phase", "Failed"}});

  auto by_fields = [&](const std::string& ns, const std::string& selector) {
    return names(f.store, {"", "Pod", ns, "", selector});
  };
  CHECK(by_fields("", "spec.nodeName=n1") == std::vector<std::string>{"a/p1", "b/p2"});
  CHECK(by_fields("a", "spec.nodeName=n1") == std::vector<std::string>{"a/p1"});
  CHECK(by_fields("", "spec.nodeName==n2") == std::vector<std::string>{"a/p3"});
  CHECK(by_fields("", "spec.nodeName=n9").empty());
  CHECK(by_fields("", "spec.nodeName=") == std::vector<std::string>{"a/pending"});
  CHECK(by_fields("", "spec.nodeName!=n1") == std::vector<std::string>{"a/p3", "a/pending"});
  CHECK(by_fields("", "spec.nodeName=n1,status.phase!=Failed") == std::vector<std::string>{"a/p1"});
  CHECK(by_fields("", "status.phase=Running") == std::vector<std::string>{"a/p1"});
  CHECK(by_fields("a", "metadata.name=p3") == std::vector<std::string>{"a/p3"});
  CHECK(by_fields("", "metadata.name=p3") == std::vector<std::string>{"a/p3"});
  CHECK(by_fields("b", "metadata.name=p3").empty());

  // The index follows pods that move and pods that go.
  f.store.merge_patch({"", "Pod", "a", "pending"}, {{"spec", {{"nodeName", "n2"}}}});
  f.store.remove({"", "Pod", "a", "p3"});
  f.store.merge_patch({"", "Pod", "b", "p2"}, {{"spec", {{"nodeName", "n2"}}}});
  CHECK(by_fields("", "spec.nodeName=n2") == std::vector<std::string>{"a/pending", "b/p2"});
  CHECK(by_fields("", "spec.nodeName=n1") == std::vector<std::string>{"a/p1"});
  f.store.json_patch({"", "Pod", "a", "p1"}, Json::parse(R"([{"op": "remove", "path": "/spec/nodeName"}])"));
  CHECK(by_fields("", "spec.nodeName=n1").empty());
  CHECK(by_fields("", "spec.nodeName=") == std::vector<std::string>{"a/p1"});
}

TEST_CASE("list combines label and field selectors with namespaces", "[store]") {
  Fixture f;
  f.store.create(pod("kube-system", "coredns-1", "n1", {{"k8s-app", "kube-dns"}}));
  f.store.create(pod("kube-system", "proxy-1", "n1", {{"k8s-app", "kube-proxy"}}));
  f.store.create(pod("default", "dns-lookalike", "n1", {{"k8s-app", "kube-dns"}}));
  CHECK(names(f.store, {"", "Pod", "kube-system", "k8s-app=kube-dns", "spec.nodeName=n1"}) ==
        std::vector<std::string>{"kube-system/coredns-1"});
  CHECK(names(f.store, {"", "Pod", "", "k8s-app=kube-dns", "spec.nodeName=n1"}) ==
        std::vector<std::string>{"default/dns-lookalike", "kube-system/coredns-1"});
}

// --- apply -----------------------------------------------------------------------------------------

TEST_CASE("apply creates when absent", "[store]") {
  Fixture f;
  std::vector<ChangeType> changes;
  f.store.set_observer([&](const Change& c) { changes.push_back(c.type); });
  const Json& created = f.store.apply(deployment("kube-system", "coredns"));
  CHECK(created["metadata"]["generation"] == 1);
  CHECK(changes == std::vector<ChangeType>{ChangeType::Added});
}

TEST_CASE("apply merges maps, named lists by name, and replaces other lists", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  const Json& merged = f.store.apply(Json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"team": "dns"}},
    "spec": {"template": {"spec": {"containers": [
      {"name": "coredns", "image": "coredns:1.8.4", "args": ["-conf", "/etc/coredns/Corefile"]},
      {"name": "metrics", "image": "metrics:2"}]}}}})"));
  CHECK(merged["metadata"]["labels"] == Json{{"team", "dns"}});
  CHECK(merged["spec"]["replicas"] == 2);  // untouched sibling kept
  const Json& containers = merged["spec"]["template"]["spec"]["containers"];
  REQUIRE(containers.size() == 3);
  CHECK(containers[0] == Json::parse(R"({"name": "coredns", "image": "coredns:1.8.4", "args": ["-conf", "/etc/coredns/Corefile"]})"));
  CHECK(containers[1] == Json::parse(R"({"name": "sidecar", "image": "sidecar:1"})"));  // stored order first
  CHECK(containers[2] == Json::parse(R"({"name": "metrics", "image": "metrics:2"})"));  // new items appended
  CHECK(generation(merged) == 2);
}

TEST_CASE("apply: null deletes, empty lists and scalars replace", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  const Json& merged = f.store.apply(Json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "coredns", "namespace": "kube-system"},
    "spec": {"replicas": null, "strategy": {"type": "Recreate", "rollingUpdate": null},
             "template": {"spec": {"containers": [{"name": "sidecar", "image": null, "args": ["x"]}],
                                   "tolerations": []}}}})"));
  CHECK_FALSE(merged["spec"].contains("replicas"));
  CHECK(merged["spec"]["strategy"] == Json{{"type", "Recreate"}});
  CHECK(merged["spec"]["template"]["spec"]["containers"][1] == Json::parse(R"({"name": "sidecar", "args": ["x"]})"));
  CHECK(merged["spec"]["template"]["spec"]["tolerations"] == Json::array());
}

TEST_CASE("apply that changes nothing is not a write", "[store]") {
  Fixture f;
  const std::string first = rv(f.store.create(deployment("kube-system", "coredns")));
  int notified = 0;
  f.store.set_observer([&](const Change&) { ++notified; });
  const Json& same = f.store.apply(deployment("kube-system", "coredns"));
  CHECK(rv(same) == first);
  CHECK(generation(same) == 1);
  CHECK(notified == 0);
  f.store.merge_patch(coredns_ref(), {{"spec", {{"replicas", 2}}}});
  CHECK(notified == 0);
}

TEST_CASE("apply keeps status and honours a resourceVersion precondition", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  Json update = deployment("kube-system", "coredns");
  update["status"] = {{"readyReplicas", 0}};
  update["spec"]["replicas"] = 3;
  const Json& applied = f.store.apply(update);
  CHECK(applied["status"] == Json{{"readyReplicas", 2}});
  CHECK(applied["spec"]["replicas"] == 3);

  update["metadata"]["resourceVersion"] = "1";
  StoreError e = store_error([&] { f.store.apply(update); });
  CHECK(e.code == StoreError::Code::Conflict);
  CHECK(std::string(e.what()) == "Deployment kube-system/coredns has been modified: resourceVersion 1 is stale, the stored object is at 2");
}

// --- patches ---------------------------------------------------------------------------------------

TEST_CASE("merge patch follows RFC 7386: null deletes", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  const Json& patched = f.store.merge_patch(coredns_ref(), Json::parse(R"({
    "metadata": {"annotations": {"refit/paused": "true"}},
    "spec": {"replicas": null, "paused": true,
             "template": {"spec": {"containers": [{"name": "only"}]}}}})"));
  CHECK(patched["metadata"]["annotations"]["refit/paused"] == "true");
  CHECK_FALSE(patched["spec"].contains("replicas"));
  CHECK(patched["spec"]["paused"] == true);
  CHECK(patched["spec"]["template"]["spec"]["containers"] == Json::parse(R"([{"name": "only"}])"));  // lists replace
  CHECK(patched["metadata"]["name"] == "coredns");
}

TEST_CASE("patches may not change identity", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  auto patch_error = [&](const Json& patch) {
    StoreError e = store_error([&] { f.store.merge_patch(coredns_ref(), patch); });
    CHECK(e.code == StoreError::Code::Invalid);
    return std::string(e.what());
  };
  CHECK(patch_error({{"metadata", {{"name", "other"}}}}) == "Deployment kube-system/coredns: a merge patch may not change metadata.name");
  CHECK(patch_error({{"metadata", {{"namespace", "default"}}}}) ==
        "Deployment kube-system/coredns: a merge patch may not change metadata.namespace");
  CHECK(patch_error({{"kind", "DaemonSet"}}) == "Deployment kube-system/coredns: a merge patch may not change kind");
  CHECK(patch_error({{"apiVersion", "example.com/v1"}}) ==
        R"(Deployment kube-system/coredns: a merge patch may not change the API group (apiVersion "example.com/v1"))");
  CHECK(patch_error({{"apiVersion", nullptr}}) ==
        "Deployment kube-system/coredns: a merge patch may not change the API group (apiVersion removed)");
  CHECK(patch_error(Json::array()) == "Deployment kube-system/coredns: a merge patch must be an object, got array");

  StoreError e = store_error([&] {
    f.store.json_patch(coredns_ref(), Json::parse(R"([{"op": "replace", "path": "/metadata/name", "value": "x"}])"));
  });
  CHECK(std::string(e.what()) == "Deployment kube-system/coredns: a JSON patch may not change metadata.name");
  CHECK(f.store.get(coredns_ref())->at("metadata").at("name") == "coredns");
}

TEST_CASE("writes to missing objects are NotFound, naming the object", "[store]") {
  Fixture f;
  StoreError e = store_error([&] { f.store.merge_patch(coredns_ref(), {{"spec", {{"replicas", 1}}}}); });
  CHECK(e.code == StoreError::Code::NotFound);
  CHECK(std::string(e.what()) == "Deployment kube-system/coredns not found");
  CHECK(std::string(store_error([&] { f.store.remove({"", "Node", "", "n1"}); }).what()) == "Node n1 not found");
  CHECK(store_error([&] { f.store.json_patch(coredns_ref(), Json::array()); }).code == StoreError::Code::NotFound);
  CHECK(store_error([&] { f.store.patch_status(coredns_ref(), Json::object()); }).code == StoreError::Code::NotFound);
  CHECK(store_error([&] { f.store.replace(deployment("kube-system", "coredns")); }).code == StoreError::Code::NotFound);
}

TEST_CASE("json patch: add, replace, remove, test", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  const Json& patched = f.store.json_patch(coredns_ref(), Json::parse(R"([
    {"op": "test", "path": "/spec/replicas", "value": 2},
    {"op": "replace", "path": "/spec/replicas", "value": 3},
    {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "metrics"}},
    {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}},
    {"op": "remove", "path": "/spec/template/spec/containers/0/args"}
  ])"));
  CHECK(patched["spec"]["replicas"] == 3);
  CHECK(patched["spec"]["template"]["spec"]["containers"].size() == 3);
  CHECK(patched["spec"]["template"]["spec"]["containers"][2] == Json{{"name", "metrics"}});
  CHECK_FALSE(patched["spec"]["template"]["spec"]["containers"][0].contains("args"));
  CHECK(patched["metadata"]["labels"] == Json{{"a", "b"}});
  CHECK(generation(patched) == 2);
}

TEST_CASE("a failing json patch operation changes nothing and is named", "[store]") {
  Fixture f;
  const std::string before = rv(f.store.create(deployment("kube-system", "coredns")));
  auto patch_error = [&](const char* ops) {
    StoreError e = store_error([&] { f.store.json_patch(coredns_ref(), Json::parse(ops)); });
    CHECK(e.code == StoreError::Code::Invalid);
    return std::string(e.what());
  };
  CHECK(patch_error(R"([{"op": "replace", "path": "/spec/replicas", "value": 5},
                        {"op": "test", "path": "/spec/replicas", "value": 2}])") ==
        "Deployment kube-system/coredns: JSON patch operation 1 (test /spec/replicas) failed: /spec/replicas is 5, not 2");
  CHECK(patch_error(R"([{"op": "test", "path": "/spec/paused", "value": true}])") ==
        "Deployment kube-system/coredns: JSON patch operation 0 (test /spec/paused) failed: /spec/paused does not exist");
  CHECK(patch_error(R"([{"op": "add", "path": "/spec/x", "value": 1}, {"op": "remove", "path": "/spec/nope"}])") ==
        "Deployment kube-system/coredns: JSON patch operation 1 (remove /spec/nope) failed: key 'nope' not found");
  CHECK(patch_error(R"([{"op": "frob", "path": "/spec"}])") ==
        "Deployment kube-system/coredns: JSON patch operation 0 (frob /spec) failed: operation value 'frob' is invalid");
  CHECK(patch_error(R"({"op": "add"})") == "Deployment kube-system/coredns: a JSON patch must be a list of operations, got object");

  const Json* stored = f.store.get(coredns_ref());
  CHECK((*stored)["spec"]["replicas"] == 2);
  CHECK_FALSE((*stored)["spec"].contains("x"));
  CHECK(rv(*stored) == before);
}

// --- generation, resourceVersion, status ---------------------------------------------------------

TEST_CASE("generation counts spec changes; resourceVersion counts writes", "[store]") {
  Fixture f;
  f.store.create(pod("default", "other"));  // resourceVersion 1
  const Json& created = f.store.create(deployment("kube-system", "coredns"));
  CHECK(rv(created) == "2");
  CHECK(generation(created) == 1);

  const Json& labelled = f.store.merge_patch(coredns_ref(), {{"metadata", {{"labels", {{"a", "b"}}}}}});
  CHECK(rv(labelled) == "3");
  CHECK(generation(labelled) == 1);  // metadata only

  const Json& scaled = f.store.merge_patch(coredns_ref(), {{"spec", {{"replicas", 5}}}});
  CHECK(rv(scaled) == "4");
  CHECK(generation(scaled) == 2);

  const Json& status = f.store.patch_status(coredns_ref(), {{"readyReplicas", 5}});
  CHECK(rv(status) == "5");
  CHECK(generation(status) == 2);

  // Server-managed fields cannot be patched.
  const Json& forged = f.store.merge_patch(coredns_ref(), {{"metadata", {{"generation", 40}, {"uid", "forged"}, {"annotations", {{"x", "y"}}}}}});
  CHECK(generation(forged) == 2);
  CHECK(forged["metadata"]["uid"] == "00000000-0000-4000-8000-000000000002");
  CHECK(rv(forged) == "6");
}

TEST_CASE("patch_status merges into .status only", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  const Json& patched = f.store.patch_status(
      coredns_ref(), Json::parse(R"({"readyReplicas": null, "updatedReplicas": 2, "conditions": [{"type": "Available"}]})"));
  CHECK(patched["status"] == Json::parse(R"({"updatedReplicas": 2, "conditions": [{"type": "Available"}]})"));
  CHECK(patched["spec"]["replicas"] == 2);

  f.store.create(pod("default", "fresh"));
  const Json& fresh = f.store.patch_status({"", "Pod", "default", "fresh"}, {{"phase", "Pending"}});
  CHECK(fresh["status"] == Json{{"phase", "Pending"}});
  const Json& cleared = f.store.patch_status({"", "Pod", "default", "fresh"}, nullptr);
  CHECK_FALSE(cleared.contains("status"));
}

TEST_CASE("an observer that does not want old objects gets status patches in place", "[store]") {
  Fixture f;
  std::vector<std::pair<ChangeType, bool>> seen;  // type, old given
  f.store.set_observer([&](const Change& c) { seen.emplace_back(c.type, c.old != nullptr); }, /*wants_old=*/false);
  f.store.create(deployment("kube-system", "coredns"));
  const Json& patched = f.store.patch_status(coredns_ref(), {{"readyReplicas", 1}});
  CHECK(patched["status"]["readyReplicas"] == 1);
  CHECK(patched["spec"]["replicas"] == 2);
  CHECK(patched["metadata"]["resourceVersion"] == "2");
  CHECK(patched["metadata"]["generation"] == 1);
  // The same status again is no write: no new resourceVersion, no change.
  const Json& again = f.store.patch_status(coredns_ref(), {{"readyReplicas", 1}});
  CHECK(again["metadata"]["resourceVersion"] == "2");
  const Json& cleared = f.store.patch_status(coredns_ref(), nullptr);
  CHECK_FALSE(cleared.contains("status"));
  f.store.merge_patch(coredns_ref(), {{"spec", {{"replicas", 3}}}});
  REQUIRE(seen.size() == 4);
  CHECK(seen[0] == std::make_pair(ChangeType::Added, false));
  CHECK(seen[1] == std::make_pair(ChangeType::Modified, false));
  CHECK(seen[2] == std::make_pair(ChangeType::Modified, false));
  CHECK(seen[3] == std::make_pair(ChangeType::Modified, false));  // old is withheld for every write
}

TEST_CASE("a misspelt built-in kind gets a hint, and is not stored as a custom kind", "[store][kinds]") {
  CHECK_THROWS_WITH(refit::resolve_api_version("", "Deploymnet"),
                    "kind Deploymnet is not built in: give its apiVersion (or did you mean Deployment?)");
  CHECK_THROWS_WITH(refit::resolve_api_version("", "Noed"),
                    "kind Noed is not built in: give its apiVersion (or did you mean Node?)");
  Fixture f;
  Json typo = deployment("default", "web");
  typo["kind"] = "Deploymnet";
  CHECK_THROWS_WITH(f.store.create(typo), "Deploymnet web: apps/v1 has no kind Deploymnet (did you mean Deployment?)");
  // A custom kind in its own group is not a typo.
  Json custom = {{"apiVersion", "example.com/v1"}, {"kind", "Deploymnet"}, {"metadata", {{"name", "x"}, {"namespace", "default"}}}};
  CHECK_NOTHROW(f.store.create(custom));
}

TEST_CASE("writers of the main resource leave .status alone", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  CHECK(f.store.merge_patch(coredns_ref(), {{"status", {{"readyReplicas", 0}}}})["status"] == Json{{"readyReplicas", 2}});
  const Json& json_patched =
      f.store.json_patch(coredns_ref(), Json::parse(R"([{"op": "remove", "path": "/status"}])"));
  CHECK(json_patched["status"] == Json{{"readyReplicas", 2}});
  Json replacement = deployment("kube-system", "coredns");
  replacement.erase("status");
  CHECK(f.store.replace(replacement)["status"] == Json{{"readyReplicas", 2}});
}

TEST_CASE("replace is a full update guarded by resourceVersion", "[store]") {
  Fixture f;
  f.now_ms = 5000;
  const Json& created = f.store.create(deployment("kube-system", "coredns"));
  const std::string uid = created["metadata"]["uid"];
  f.now_ms = 60'000;

  Json replacement = deployment("kube-system", "coredns");
  replacement["spec"] = {{"replicas", 1}};
  replacement["metadata"]["resourceVersion"] = "1";
  const Json& replaced = f.store.replace(replacement);
  CHECK(replaced["spec"] == Json{{"replicas", 1}});  // not merged
  CHECK(rv(replaced) == "2");
  CHECK(generation(replaced) == 2);
  CHECK(replaced["metadata"]["uid"] == uid);
  CHECK(replaced["metadata"]["creationTimestamp"] == "2026-01-01T00:00:05Z");

  replacement["spec"]["replicas"] = 7;  // still says resourceVersion 1
  StoreError e = store_error([&] { f.store.replace(replacement); });
  CHECK(e.code == StoreError::Code::Conflict);
  CHECK(std::string(e.what()) == "Deployment kube-system/coredns has been modified: resourceVersion 1 is stale, the stored object is at 2");

  replacement["metadata"].erase("resourceVersion");  // unconditional
  CHECK(f.store.replace(replacement)["spec"]["replicas"] == 7);
}

TEST_CASE("a merge patch carrying a stale resourceVersion conflicts", "[store]") {
  Fixture f;
  f.store.create(deployment("kube-system", "coredns"));
  f.store.merge_patch(coredns_ref(), {{"spec", {{"replicas", 3}}}});
  CHECK(store_error([&] {
          f.store.merge_patch(coredns_ref(), {{"metadata", {{"resourceVersion", "1"}}}, {"spec", {{"replicas", 4}}}});
        }).code == StoreError::Code::Conflict);
  CHECK(f.store.merge_patch(coredns_ref(), {{"metadata", {{"resourceVersion", "2"}}}, {"spec", {{"replicas", 4}}}})["spec"]["replicas"] == 4);
}

// --- remove, observer, dump ------------------------------------------------------------------------

TEST_CASE("observer sees every change with its type and the old object", "[store]") {
  Fixture f;
  struct Seen {
    ChangeType type;
    std::string rv;
    std::string old_rv;
  };
  std::vector<Seen> seen;
  f.store.set_observer([&](const Change& c) {
    seen.push_back({c.type, rv(c.object), c.old != nullptr ? rv(*c.old) : ""});
    // The store is consistent when the observer runs.
    if (c.type != ChangeType::Deleted) CHECK(f.store.get(coredns_ref()) == &c.object);
    if (c.type == ChangeType::Deleted) CHECK(f.store.get(coredns_ref()) == nullptr);
  });
  f.store.create(deployment("kube-system", "coredns"));
  f.store.merge_patch(coredns_ref(), {{"spec", {{"replicas", 3}}}});
  f.store.patch_status(coredns_ref(), {{"readyReplicas", 3}});
  f.store.remove(coredns_ref());
  REQUIRE(seen.size() == 4);
  CHECK(seen[0].type == ChangeType::Added);
  CHECK(seen[0].rv == "1");
  CHECK(seen[0].old_rv.empty());
  CHECK(seen[1].type == ChangeType::Modified);
  CHECK(seen[1].rv == "2");
  CHECK(seen[1].old_rv == "1");
  CHECK(seen[2].type == ChangeType::Modified);
  CHECK(seen[3].type == ChangeType::Deleted);
  CHECK(seen[3].rv == "4");  // the last state of the object, at a new resourceVersion, as watches see it
  CHECK(f.store.resource_version() == 4);
  CHECK(seen[3].old_rv.empty());
  CHECK(refit::sim::to_string(ChangeType::Added) == "ADDED");
  CHECK(refit::sim::to_string(ChangeType::Modified) == "MODIFIED");
  CHECK(refit::sim::to_string(ChangeType::Deleted) == "DELETED");
}

TEST_CASE("an observer may write to the store", "[store]") {
  Fixture f;
  f.store.set_observer([&](const Change& c) {
    if (c.type == ChangeType::Added && c.object["kind"] == "Pod") {
      f.store.patch_status({"", "Pod", c.object["metadata"]["namespace"], c.object["metadata"]["name"]}, {{"phase", "Running"}});
    }
  });
  f.store.create(pod("default", "p"));
  CHECK(f.store.get({"", "Pod", "default", "p"})->at("status").at("phase") == "Running");
}

TEST_CASE("remove deletes and counts", "[store]") {
  Fixture f;
  f.store.create(pod("default", "a", "n1"));
  f.store.create(pod("default", "b", "n1"));
  f.store.remove({"v1", "Pod", "default", "a"});
  CHECK(f.store.size() == 1);
  CHECK(f.store.get({"", "Pod", "default", "a"}) == nullptr);
  CHECK(names(f.store, {"", "Pod", "", "", "spec.nodeName=n1"}) == std::vector<std::string>{"default/b"});
  StoreError e = store_error([&] { f.store.remove({"", "Pod", "default", "a"}); });
  CHECK(e.code == StoreError::Code::NotFound);
  CHECK(std::string(e.what()) == "Pod default/a not found");
}

TEST_CASE("dump is grouped by group/Kind, sorted and deterministic", "[store]") {
  auto build = [](Fixture& f) {
    f.store.create(pod("b", "p2"));
    f.store.create(pod("a", "p1"));
    f.store.create({{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}});
    f.store.create(deployment("kube-system", "coredns"));
    f.store.create(pod("gone", "p3"));
    f.store.remove({"", "Pod", "gone", "p3"});
    f.store.create({{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"namespace", "a"}, {"name", "s"}}}});
    f.store.remove({"", "Secret", "a", "s"});
  };
  Fixture first, second;
  build(first);
  build(second);
  Json dump = first.store.dump();
  CHECK(dump.dump() == second.store.dump().dump());
  std::vector<std::string> keys;
  for (const auto& [key, value] : dump.items()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"apps/Deployment", "core/Node", "core/Pod"});
  REQUIRE(dump["core/Pod"].size() == 2);
  CHECK(dump["core/Pod"][0]["metadata"]["name"] == "p1");
  CHECK(dump["core/Pod"][1]["metadata"]["name"] == "p2");
}

// --- custom kinds ----------------------------------------------------------------------------------

TEST_CASE("custom kinds take their scope from a stored CRD", "[store]") {
  Fixture f;
  // Without a CRD the namespace is taken as given.
  f.store.create({{"apiVersion", "example.com/v1"}, {"kind", "Gadget"}, {"metadata", {{"name", "g"}}}});
  CHECK(f.store.get({"example.com/v1", "Gadget", "", "g"}) != nullptr);

  auto crd = [](const char* kind, const char* scope) {
    std::string plural = std::string(kind) + "s";
    plural[0] = static_cast<char>(plural[0] - 'A' + 'a');
    return Json{{"apiVersion", "apiextensions.k8s.io/v1"},
                {"kind", "CustomResourceDefinition"},
                {"metadata", {{"name", plural + ".example.com"}}},
                {"spec", {{"group", "example.com"}, {"scope", scope}, {"names", {{"kind", kind}}}}}};
  };
  f.store.create(crd("Widget", "Namespaced"));
  f.store.create(crd("Cog", "Cluster"));

  StoreError e = store_error([&] {
    f.store.create({{"apiVersion", "example.com/v1"}, {"kind", "Widget"}, {"metadata", {{"name", "w"}}}});
  });
  CHECK(std::string(e.what()) == "Widget w: metadata.namespace is required (Widget is namespaced)");
  f.store.create({{"apiVersion", "example.com/v1"}, {"kind", "Cog"}, {"metadata", {{"name", "c"}, {"namespace", "x"}}}});
  CHECK(f.store.get({"example.com/v1", "Cog", "y", "c"}) != nullptr);

  f.store.remove({"", "CustomResourceDefinition", "", "widgets.example.com"});
  f.store.create({{"apiVersion", "example.com/v1"}, {"kind", "Widget"}, {"metadata", {{"name", "w"}}}});
  CHECK(f.store.size() == 4);
}

// --- scale -----------------------------------------------------------------------------------------

TEST_CASE("a large store stays consistent under many operations", "[store][scale]") {
  Fixture f;
  constexpr int kNodes = 200, kNamespaces = 50, kPods = 10'000;
  for (int i = 0; i < kPods; ++i) {
    f.store.create(pod("ns-" + std::to_string(i % kNamespaces), "pod-" + std::to_string(i), "node-" + std::to_string(i % kNodes),
                       {{"app", i % 2 ? "odd" : "even"}}));
  }
  REQUIRE(f.store.size() == kPods);

  std::size_t visited = 0;
  for (int n = 0; n < kNodes; ++n) {
    f.store.list({"", "Pod", "", "", "spec.nodeName=node-" + std::to_string(n)}, [&](const Json&) { ++visited; });
  }
  CHECK(visited == kPods);

  // Drain node-0: move its pods to node-1.
  std::vector<ObjectRef> on_node_0;
  f.store.list({"", "Pod", "", "", "spec.nodeName=node-0"}, [&](const Json& obj) {
    on_node_0.push_back({"v1", "Pod", obj["metadata"]["namespace"], obj["metadata"]["name"]});
  });
  for (const ObjectRef& ref : on_node_0) f.store.merge_patch(ref, {{"spec", {{"nodeName", "node-1"}}}});
  CHECK(names(f.store, {"", "Pod", "", "", "spec.nodeName=node-0"}).empty());
  CHECK(names(f.store, {"", "Pod", "", "", "spec.nodeName=node-1"}).size() == 2 * kPods / kNodes);
  CHECK(names(f.store, {"", "Pod", "ns-3", "app=odd", ""}).size() == kPods / kNamespaces);

  for (int i = 0; i < kPods; i += 2) f.store.remove({"", "Pod", "ns-" + std::to_string(i % kNamespaces), "pod-" + std::to_string(i)});
  CHECK(f.store.size() == kPods / 2);
  CHECK(names(f.store, {"", "Pod", "", "app=even", ""}).empty());
}
