// Kubeconfig Secrets as `refit sim serve` serves them (serve/served_secrets.hpp): the rewrite of a
// kubeconfig to the served cluster and credentials, what is left alone, the restore of a value a
// client writes back; and end to end over HTTPS, a client reading such a Secret and connecting with
// it, while the world keeps its own value.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <memory>

#include "cluster/kube/base64.hpp"
#include "cluster/kube/kube_cluster.hpp"
#include "cluster/kube/kubeconfig.hpp"
#include "cluster/sim/sim_runtime.hpp"
#include "data/yaml.hpp"
#include "run/session.hpp"
#include "serve/served_secrets.hpp"
#include "serve/sim_server.hpp"

using refit::serve::ClientAccess;
using refit::serve::Json;
using refit::serve::ServedSecrets;

namespace {

// A fleet's kubeconfig for cluster `name` (the one served) and for "elsewhere" (not served).
std::string fleet_kubeconfig(const std::string& name) {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "clusters:\n"
         "- name: " + name + "\n"
         "  cluster:\n"
         "    server: https://" + name + "-apiserver.fleet.example.com:6443\n"
         "    certificate-authority-data: ZmxlZXQgQ0E=\n"
         "    tls-server-name: " + name + ".internal\n"
         "- name: elsewhere\n"
         "  cluster:\n"
         "    server: https://elsewhere.fleet.example.com:6443\n"
         "contexts:\n"
         "- name: " + name + "-admin@" + name + "\n"
         "  context: {cluster: " + name + ", user: " + name + "-admin}\n"
         "- name: elsewhere\n"
         "  context: {cluster: elsewhere, user: elsewhere-admin}\n"
         "current-context: " + name + "-admin@" + name + "\n"
         "users:\n"
         "- name: " + name + "-admin\n"
         "  user:\n"
         "    client-certificate-data: RkxFRVQtQ0VSVA==\n"
         "    client-key-data: RkxFRVQtS0VZ\n"
         "- name: elsewhere-admin\n"
         "  user: {token: fleet-token-elsewhere}\n";
}

std::string b64(const std::string& text) { return refit::kube::encode_base64(text); }

std::string unb64(const Json& value) {
  refit::kube::Base64Problem problem;
  auto text = refit::kube::decode_base64(value.get<std::string>(), problem);
  REQUIRE(text);
  return *text;
}

Json secret(const Json& data, const Json& string_data = nullptr, const std::string& name = "edge-kubeconfig",
            const std::string& ns = "fleet") {
  Json s = {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", name}, {"namespace", ns}}}, {"data", data}};
  if (!string_data.is_null()) s["stringData"] = string_data;
  return s;
}

ClientAccess token_access() {
  ClientAccess access;
  access.ca_pem = "SERVED-CA-PEM";
  access.token = "served-token-5c1f";
  return access;
}

ServedSecrets edge_served(const ClientAccess& access = token_access()) {
  return ServedSecrets({{"edge", "https://127.0.0.1:41000/clusters/edge"}}, 600, access);
}

}  // namespace

TEST_CASE("served secrets: a kubeconfig reaches the served cluster with the served credentials", "[serve][secrets]") {
  ServedSecrets served = edge_served();
  Json stored = secret({{"value", b64(fleet_kubeconfig("edge"))}, {"other", b64("a password, not a kubeconfig")}},
                       {{"config", fleet_kubeconfig("edge")}});
  const Json before = stored;
  auto shown = served.served(stored);
  REQUIRE(shown);
  CHECK(stored == before);  // the world's object is left as it is

  for (const std::string& text : {unb64((*shown)["data"]["value"]), (*shown)["stringData"]["config"].get<std::string>()}) {
    Json doc = refit::data::parse_yaml(text);
    CHECK(doc["current-context"] == "edge-admin@edge");
    CHECK(doc["clusters"][0] == Json::parse(R"({"name": "edge", "cluster": {
      "server": "https://127.0.0.1:41000/clusters/edge",
      "certificate-authority-data": ")" + b64("SERVED-CA-PEM") + R"(",
      "extensions": [{"name": "refit.dev/sim", "extension": {"speed": 600}}]}})"));
    CHECK(doc["clusters"][1] == Json::parse(R"({"name": "elsewhere", "cluster": {
      "server": "https://elsewhere.fleet.example.com:6443"}})"));
    CHECK(doc["contexts"] == refit::data::parse_yaml(fleet_kubeconfig("edge"))["contexts"]);
    CHECK(doc["users"] == Json::parse(R"([
      {"name": "edge-admin", "user": {"token": "served-token-5c1f"}},
      {"name": "elsewhere-admin", "user": {"token": "fleet-token-elsewhere"}}])"));
  }
  CHECK((*shown)["data"]["other"] == stored["data"]["other"]);

  SECTION("with client certificates, the user gets the served certificate and key") {
    ClientAccess access;
    access.ca_pem = "SERVED-CA-PEM";
    access.client_cert_pem = "SERVED-CERT-PEM";
    access.client_key_pem = "SERVED-KEY-PEM";
    auto with_certs = edge_served(access).served(stored);
    REQUIRE(with_certs);
    Json doc = refit::data::parse_yaml(unb64((*with_certs)["data"]["value"]));
    CHECK(doc["users"][0]["user"] == Json{{"client-certificate-data", b64("SERVED-CERT-PEM")},
                                          {"client-key-data", b64("SERVED-KEY-PEM")}});
  }
  SECTION("over plain HTTP, no CA and an empty user") {
    auto plain = ServedSecrets({{"edge", "http://127.0.0.1:41000/clusters/edge"}}, 1, ClientAccess{}).served(stored);
    REQUIRE(plain);
    Json doc = refit::data::parse_yaml(unb64((*plain)["data"]["value"]));
    CHECK_FALSE(doc["clusters"][0]["cluster"].contains("certificate-authority-data"));
    CHECK(doc["users"][0]["user"] == Json::object());
  }
}

TEST_CASE("served secrets: what is served as stored", "[serve][secrets]") {
  ServedSecrets served = edge_served();
  CHECK_FALSE(served.served(secret({{"password", b64("hunter2")}})));
  CHECK_FALSE(served.served(secret({{"value", b64(fleet_kubeconfig("prod"))}})));    // names no served cluster
  CHECK_FALSE(served.served(secret({{"value", "not base64 at all!"}})));
  CHECK_FALSE(served.served(secret({{"value", b64("clusters: [server: {")}})));     // not YAML
  CHECK_FALSE(served.served(secret({{"value", b64("clusters: 3\nserver: x\n")}})));  // not a kubeconfig
  Json config_map = secret({{"value", b64(fleet_kubeconfig("edge"))}});
  config_map["kind"] = "ConfigMap";
  CHECK_FALSE(served.served(config_map));
  CHECK_FALSE(ServedSecrets().served(secret({{"value", b64(fleet_kubeconfig("edge"))}})));
}

TEST_CASE("served secrets: a value written back as it was read goes back to the world's", "[serve][secrets]") {
  ServedSecrets served = edge_served();
  Json stored = secret({{"value", b64(fleet_kubeconfig("edge"))}, {"other", b64("a password")}});
  Json shown = *served.served(stored);

  Json written = shown["data"];
  served.restore(written, &stored["data"], true);
  CHECK(written == stored["data"]);

  SECTION("a served value copied to another key or Secret") {
    Json copy = {{"copied", shown["data"]["value"]}};
    served.restore(copy, nullptr, true);
    CHECK(copy["copied"] == stored["data"]["value"]);
  }
  SECTION("a value the client changed stays the client's") {
    std::string edited = unb64(shown["data"]["value"]) + "preferences: {}\n";
    Json changed = {{"value", b64(edited)}};
    served.restore(changed, &stored["data"], true);
    CHECK(changed["value"] == b64(edited));
  }
  SECTION("stringData is plain text") {
    Json plain_stored = {{"config", fleet_kubeconfig("edge")}};
    Json plain = (*served.served(secret(Json::object(), plain_stored)))["stringData"];
    CHECK(plain != plain_stored);
    served.restore(plain, &plain_stored, false);
    CHECK(plain == plain_stored);
  }
}

namespace {

// A served world (tests/cli/files/serve-kubectl.yaml: cluster "demo"), over HTTPS with client
// certificates; `admin` is a client with the served kubeconfig's credentials.
struct ServedOverTls {
  ServedOverTls() {
    refit::run::prepare_vm(vm);
    runtime = std::make_unique<refit::sim::SimRuntime>(vm, world);
    runtime->load("tests/cli/files/serve-kubectl.yaml", std::nullopt);
    refit::serve::ServeOptions options;
    options.tls = refit::serve::generate_serving_certificates();
    options.auth.required = true;
    options.auth.client_certificates = true;
    options.client_access.ca_pem = options.tls->ca.cert_pem;
    options.client_access.client_cert_pem = options.tls->client.cert_pem;
    options.client_access.client_key_pem = options.tls->client.key_pem;
    access = options.client_access;
    server = std::make_unique<refit::serve::SimServer>(*runtime, options);
    server->start();
    Json kubeconfig = refit::serve::kubeconfig_document({{"demo", server->cluster_url("demo")}}, "demo", 1, access);
    admin = connect(refit::data::to_yaml(kubeconfig));
  }
  ~ServedOverTls() { server->stop(); }

  static std::unique_ptr<refit::kube::KubeCluster> connect(const std::string& kubeconfig) {
    return std::make_unique<refit::kube::KubeCluster>(
        "demo", refit::kube::Kubeconfig::parse(kubeconfig, "a test's kubeconfig").endpoint());
  }
  Json stored(const refit::cluster::ObjectRef& ref) {
    auto lock = server->world().lock();
    Json found;
    server->world().cluster("demo")->get(ref, [&](const Json& object) { found = object; });
    return found;
  }

  refit::lua::Vm vm;
  refit::sim::World world{1};
  std::unique_ptr<refit::sim::SimRuntime> runtime;
  std::unique_ptr<refit::serve::SimServer> server;
  ClientAccess access;
  std::unique_ptr<refit::kube::KubeCluster> admin;
};

}  // namespace

TEST_CASE("served secrets: a client reads a kubeconfig Secret and connects with it", "[serve][secrets]") {
  ServedOverTls w;
  const refit::cluster::ObjectRef ref{"v1", "Secret", "shop", "demo-kubeconfig"};
  const std::string fleet_value = b64(fleet_kubeconfig("demo"));
  w.admin->create(secret({{"value", fleet_value}}, nullptr, "demo-kubeconfig", "shop"), [](const Json&) {});
  Json read;
  REQUIRE(w.admin->get(ref, [&](const Json& object) { read = object; }));
  std::string kubeconfig = unb64(read["data"]["value"]);
  CHECK(refit::data::parse_yaml(kubeconfig)["clusters"][0]["cluster"]["server"] == w.server->cluster_url("demo"));
  CHECK(ServedOverTls::connect(kubeconfig)->version().git_version == "v1.27.4");

  // Listed, it is served the same way; the world keeps the fleet's value, never the served key.
  bool listed = false;
  w.admin->list({"v1", "Secret", "shop", "", ""}, [&](const Json& object) {
    if (object["metadata"]["name"] == "demo-kubeconfig") listed = object["data"]["value"] == read["data"]["value"];
  });
  CHECK(listed);
  CHECK(w.stored(ref)["data"]["value"] == fleet_value);

  // Written back as read (kubectl edit, apply of get -o yaml): the world keeps its own value.
  read["metadata"]["labels"] = {{"edited", "yes"}};
  w.admin->replace(read, [](const Json&) {});
  Json after = w.stored(ref);
  CHECK(after["metadata"]["labels"]["edited"] == "yes");
  CHECK(after["data"]["value"] == fleet_value);
  std::string dump;
  {
    auto lock = w.server->world().lock();
    dump = w.runtime->dump().dump();
  }
  CHECK(dump.find(b64(w.access.client_key_pem)) == std::string::npos);
  CHECK(dump.find(fleet_value) != std::string::npos);
}

TEST_CASE("served secrets: watches serve them too; patches that write the served form back restore it",
          "[serve][secrets]") {
  refit::lua::Vm vm;
  refit::run::prepare_vm(vm);
  refit::sim::World world{1};
  refit::sim::SimRuntime runtime(vm, world);
  runtime.load("tests/cli/files/serve-kubectl.yaml", std::nullopt);
  refit::serve::ServeOptions options;
  options.speed = 0;
  refit::serve::SimServer server(runtime, options);
  server.start();
  httplib::Client client("127.0.0.1", server.port());
  const std::string secrets = "/clusters/demo/api/v1/namespaces/shop/secrets";
  const std::string fleet_value = b64(fleet_kubeconfig("demo"));
  auto created = client.Post(secrets.c_str(), secret({{"value", fleet_value}}, nullptr, "demo-kubeconfig", "shop").dump(),
                             "application/json");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  const Json served_value = Json::parse(created->body)["data"]["value"];
  CHECK(refit::data::parse_yaml(unb64(served_value))["clusters"][0]["cluster"]["server"] == server.cluster_url("demo"));

  auto watched = client.Get((secrets + "?watch=1&timeoutSeconds=1").c_str());
  REQUIRE(watched);
  Json added = Json::parse(watched->body.substr(0, watched->body.find('\n')));
  CHECK(added["type"] == "ADDED");
  CHECK(added["object"]["data"]["value"] == served_value);
  // kubectl get's Tables with the objects in them (includeObject=Object) serve them too.
  const httplib::Headers table = {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}};
  for (const std::string& path : {secrets, secrets + "/demo-kubeconfig"}) {
    auto rows = client.Get((path + "?includeObject=Object").c_str(), table);
    REQUIRE(rows);
    REQUIRE(rows->status == 200);
    CHECK(Json::parse(rows->body)["rows"][0]["object"]["data"]["value"] == served_value);
  }

  auto stored_value = [&] {
    auto lock = server.world().lock();
    Json value;
    server.world().cluster("demo")->get({"v1", "Secret", "shop", "demo-kubeconfig"},
                                        [&](const Json& object) { value = object["data"]["value"]; });
    return value;
  };
  const std::string object = secrets + "/demo-kubeconfig";
  Json merge = {{"metadata", {{"labels", {{"patched", "merge"}}}}}, {"data", {{"value", served_value}}}};
  REQUIRE(client.Patch(object.c_str(), merge.dump(), "application/merge-patch+json")->status == 200);
  CHECK(stored_value() == fleet_value);
  Json ops = Json::array({{{"op", "replace"}, {"path", "/data/value"}, {"value", served_value}}});
  REQUIRE(client.Patch(object.c_str(), ops.dump(), "application/json-patch+json")->status == 200);
  CHECK(stored_value() == fleet_value);
  // A kubeconfig the client wrote itself is its own.
  Json own = Json::array({{{"op", "replace"}, {"path", "/data/value"}, {"value", b64(fleet_kubeconfig("other"))}}});
  REQUIRE(client.Patch(object.c_str(), own.dump(), "application/json-patch+json")->status == 200);
  CHECK(stored_value() == b64(fleet_kubeconfig("other")));
  server.stop();
}
