// kubeconfig loading as kubectl does it (file precedence, merge rules, relative paths), context
// resolution to an Endpoint, and the errors: each names the file, the entry and what to do, and none
// quotes a credential.
#include <catch2/catch.hpp>
#include <filesystem>

#include "cluster/kube/base64.hpp"
#include "cluster/kube/kubeconfig.hpp"
#include "kube_test_files.hpp"

using namespace refit::kube;
using refit::kube::testing::error_of;
using refit::kube::testing::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = "tests/unit/fixtures/kube/";

KubeconfigEnvironment with_kubeconfig(const std::string& value, const std::string& home = "/nonexistent-home") {
  return KubeconfigEnvironment{value, home};
}

// A one-context kubeconfig around a cluster and a user body (YAML at the indentation of their fields).
std::string kubeconfig(const std::string& cluster_fields, const std::string& user_fields) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n"
         "clusters:\n- name: c\n  cluster:\n" +
         cluster_fields + "users:\n- name: u\n  user:\n" + user_fields +
         "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n";
}

const std::string kServer = "    server: https://10.0.0.1:6443\n";

// base64 of a PEM block with the given type and body.
std::string pem_base64(const std::string& type, const std::string& body) {
  return encode_base64("-----BEGIN " + type + "-----\n" + body + "\n-----END " + type + "-----\n");
}

}  // namespace

TEST_CASE("KUBECONFIG files merge as kubectl merges them", "[kubeconfig]") {
  std::string first = kFixtures + "merge-first.yaml", second = kFixtures + "merge-second.yaml";
  auto config = Kubeconfig::load("", with_kubeconfig(first + ":/nonexistent/kubeconfig::" + second + ":" + first));

  // The missing file is skipped, the empty entry and the repeat are dropped.
  CHECK(config.files() == std::vector<std::string>{first, second});
  // current-context comes from the first file that sets it: the second.
  CHECK(config.current_context() == "staging");

  auto contexts = config.contexts();
  REQUIRE(contexts.size() == 2);
  CHECK(contexts[0].name == "dev");
  CHECK(contexts[0].cluster == "shared");  // the first file's "dev", not the second's
  CHECK(contexts[0].namespace_name == "dev");
  CHECK(contexts[0].origin == first);
  CHECK(contexts[1].name == "staging");
  CHECK(contexts[1].origin == second);

  // The second file's "staging" context uses the cluster and user named "shared": the first file's.
  Endpoint staging = config.endpoint();
  CHECK(staging.context == "staging");
  CHECK(staging.origin == second);
  CHECK(staging.server == "https://first.example:6443");
  CHECK(staging.default_namespace == "default");
  CHECK(staging.credentials->bearer_token() == "first-token");

  Endpoint dev = config.endpoint("dev");
  CHECK(dev.server == "https://first.example:6443");
  CHECK(dev.default_namespace == "dev");
}

TEST_CASE("A file given with --kubeconfig is read alone; KUBECONFIG and ~/.kube/config are not", "[kubeconfig]") {
  TempDir home;
  home.write(".kube/config", "current-context: from-home\n");
  std::string second = kFixtures + "merge-second.yaml";

  auto config = Kubeconfig::load(second, with_kubeconfig(kFixtures + "merge-first.yaml", home.root()));
  CHECK(config.files() == std::vector<std::string>{second});
  CHECK(config.endpoint("dev").server == "https://staging.example:6443");  // the trailing '/' dropped

  CHECK(error_of([&] { Kubeconfig::load("/nonexistent/kc", with_kubeconfig("")); }) ==
        "cannot read kubeconfig /nonexistent/kc: No such file or directory");
}

TEST_CASE("Without KUBECONFIG, ~/.kube/config is read; with none, endpoint() says where refit looked", "[kubeconfig]") {
  TempDir home;
  std::string default_path = home.path(".kube/config");
  SECTION("KUBECONFIG unset, or set to nothing") {
    home.write(".kube/config", "current-context: from-home\n");
    for (auto env : {KubeconfigEnvironment{std::nullopt, home.root()}, KubeconfigEnvironment{"", home.root()}}) {
      auto config = Kubeconfig::load("", env);
      CHECK(config.files() == std::vector<std::string>{default_path});
      CHECK(config.current_context() == "from-home");
    }
  }
  SECTION("no file at all") {
    auto config = Kubeconfig::load("", KubeconfigEnvironment{std::nullopt, home.root()});
    CHECK(config.files().empty());
    CHECK(config.contexts().empty());
    CHECK(error_of([&] { config.endpoint("dev"); }) ==
          "no kubeconfig found: " + default_path + " does not exist; set KUBECONFIG or pass --kubeconfig FILE");
    auto listed = Kubeconfig::load("", with_kubeconfig("/nonexistent/a:/nonexistent/b"));
    CHECK(error_of([&] { listed.endpoint(); }) ==
          "no kubeconfig found: none of the files in KUBECONFIG exists (/nonexistent/a, /nonexistent/b)");
  }
}

TEST_CASE("Relative paths in a kubeconfig are relative to its directory", "[kubeconfig]") {
  auto config = Kubeconfig::load(kFixtures + "relative.yaml", with_kubeconfig(""));
  std::string dir = fs::absolute(kFixtures).lexically_normal().string();

  Endpoint files = config.endpoint();
  CHECK(files.ca_pem == refit::kube::testing::read_text(dir + "pki/ca.crt"));
  CHECK(files.default_namespace == "team-a");
  CHECK(files.credentials->describe() ==
        "token from file " + dir + "pki/token, client certificate from file " + dir + "pki/client.crt");
  CHECK(files.credentials->bearer_token() == "fixture-file-token");  // the line break trimmed
  auto pair = files.credentials->client_certificate();
  REQUIRE(pair.has_value());
  CHECK(pair->cert_pem == refit::kube::testing::read_text(dir + "pki/client.crt"));
  CHECK(pair->key_pem == refit::kube::testing::read_text(dir + "pki/client.key"));

  // A command with a '/' is a path from the kubeconfig's directory; a bare name is looked up on PATH.
  CHECK(config.endpoint("plugin").credentials->describe() ==
        "exec plugin " + dir + "exec-plugin.sh (client.authentication.k8s.io/v1)");
  CHECK(config.endpoint("plugin-on-path").credentials->describe() ==
        "exec plugin exec-plugin.sh (client.authentication.k8s.io/v1)");
}

TEST_CASE("An unknown or missing context is named with the files read and the contexts there", "[kubeconfig]") {
  TempDir dir;
  std::string a = dir.write("a/kc",
                            "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                            "contexts:\n- name: staging\n  context: {cluster: c}\n");
  std::string b = dir.write("b/kc",
                            "contexts:\n- name: dev\n  context: {cluster: c}\n"
                            "- name: no-cluster\n  context: {user: u}\n"
                            "- name: lost-cluster\n  context: {cluster: gone}\n"
                            "- name: lost-user\n  context: {cluster: c, user: gone}\n");
  auto config = Kubeconfig::load("", with_kubeconfig(a + ":" + b));

  CHECK(error_of([&] { config.endpoint("prod"); }) ==
        "context \"prod\" not found in " + a + ", " + b +
            "; contexts: dev, lost-cluster, lost-user, no-cluster, staging");
  CHECK(error_of([&] { config.endpoint(); }) ==
        "no context selected: current-context is not set in " + a + ", " + b +
            "; pass --context (contexts: dev, lost-cluster, lost-user, no-cluster, staging)");
  CHECK(error_of([&] { config.endpoint("no-cluster"); }) == "context \"no-cluster\" in " + b + " names no cluster");
  std::string both = a + ", " + b;
  CHECK(error_of([&] { config.endpoint("lost-cluster"); }) ==
        "context \"lost-cluster\" in " + b + " names cluster \"gone\", which is not defined in " + both +
            "; clusters: c");
  CHECK(error_of([&] { config.endpoint("lost-user"); }) ==
        "context \"lost-user\" in " + b + " names user \"gone\", which is not defined in " + both + "; users: none");

  // A context without a user makes anonymous requests.
  Endpoint dev = config.endpoint("dev");
  CHECK(dev.server == "https://h");
  CHECK(dev.credentials->bearer_token() == std::nullopt);
  CHECK(dev.credentials->client_certificate() == std::nullopt);
  CHECK(dev.credentials->describe() == "no credentials");
}

TEST_CASE("A cluster entry resolves to the Endpoint's server, trust and proxy fields", "[kubeconfig]") {
  std::string ca = pem_base64("CERTIFICATE", "Y2E=");
  std::string cluster_fields = "    server: https://api.example:6443/base//\n"
                               "    certificate-authority-data: " + ca + "\n"
                               "    tls-server-name: kubernetes.default\n"
                               "    proxy-url: socks5://user:hunter2@proxy:1080\n"
                               "    extensions:\n"
                               "    - name: refit.dev/sim\n"
                               "      extension: {speed: 60}\n";
  auto config = Kubeconfig::parse(kubeconfig(cluster_fields, "    token: t\n"), "inline kubeconfig");
  Endpoint e = config.endpoint();
  CHECK(e.context == "ctx");
  CHECK(e.cluster == "c");
  CHECK(e.origin == "inline kubeconfig");
  CHECK(e.server == "https://api.example:6443/base");
  CHECK(e.ca_pem == "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n");
  CHECK_FALSE(e.insecure_skip_tls_verify);
  CHECK(e.tls_server_name == "kubernetes.default");
  CHECK(e.proxy_url == "socks5://user:hunter2@proxy:1080");
  CHECK(e.sim_speed == 60.0);
  // The proxy's password and the token stay out of the description.
  CHECK(describe(e) ==
        "https://api.example:6443/base (context ctx, cluster c, CA from the kubeconfig, TLS server name "
        "kubernetes.default, proxy socks5://proxy:1080, token, refit sim world at 60x)");

  Endpoint insecure = Kubeconfig::parse(kubeconfig("    server: http://127.0.0.1:8080/\n"
                                                   "    insecure-skip-tls-verify: true\n",
                                                   "    token: t\n"),
                                        "x")
                          .endpoint();
  CHECK(insecure.server == "http://127.0.0.1:8080");
  CHECK(insecure.insecure_skip_tls_verify);
  CHECK(insecure.ca_pem.empty());
  CHECK_FALSE(insecure.sim_speed.has_value());
}

TEST_CASE("Cluster entries kubectl would refuse are refused with what to fix", "[kubeconfig]") {
  auto error_for = [](const std::string& cluster_fields) {
    return error_of([&] { Kubeconfig::parse(kubeconfig(cluster_fields, "    token: t\n"), "kc").endpoint(); });
  };
  CHECK(error_for("    insecure-skip-tls-verify: true\n") ==
        "context \"ctx\": cluster \"c\" in kc: the cluster has no server");
  CHECK(error_for("    server: 10.0.0.1:6443\n") ==
        "context \"ctx\": cluster \"c\" in kc: server \"10.0.0.1:6443\" does not start with https:// or http://; write "
        "https://10.0.0.1:6443");
  CHECK(error_for(kServer + "    insecure-skip-tls-verify: true\n    certificate-authority-data: " +
                  pem_base64("CERTIFICATE", "eA==") + "\n") ==
        "context \"ctx\": cluster \"c\" in kc: insecure-skip-tls-verify is set together with a certificate-authority; "
        "remove one (kubectl refuses this too)");
  CHECK(error_for(kServer + "    certificate-authority: /nonexistent/ca.crt\n") ==
        "context \"ctx\": cluster \"c\" in kc: cannot read certificate-authority /nonexistent/ca.crt: No such file or "
        "directory");
  CHECK(error_for(kServer + "    certificate-authority-data: " + pem_base64("PRIVATE KEY", "eA==") + "\n") ==
        "context \"ctx\": cluster \"c\" in kc: certificate-authority-data holds no PEM certificate "
        "(-----BEGIN CERTIFICATE----- once decoded)");
  CHECK(error_for(kServer + "    proxy-url: ftp://proxy\n") ==
        "context \"ctx\": cluster \"c\" in kc: proxy-url must start with http://, https:// or socks5://");
  CHECK(error_for(kServer + "    extensions:\n    - name: refit.dev/sim\n      extension: {speed: 0}\n") ==
        "context \"ctx\": cluster \"c\" in kc: extension refit.dev/sim must hold a positive speed (extension: "
        "{speed: 60}: the served world's clock runs 60 times faster than the wall clock)");
}

TEST_CASE("Bad base64 names the field and the offset, never the content", "[kubeconfig]") {
  const std::string secret = "SECRETKEYMATERIAL";
  auto error_for = [](const std::string& cluster_fields, const std::string& user_fields) {
    return error_of([&] { Kubeconfig::parse(kubeconfig(cluster_fields, user_fields), "kc").endpoint(); });
  };
  std::string cert = pem_base64("CERTIFICATE", "Y2VydA==");

  std::string key_error = error_for(
      kServer, "    client-certificate-data: " + cert + "\n    client-key-data: " + secret + "!" + secret + "\n");
  CHECK(key_error ==
        "context \"ctx\": user \"u\" in kc: client-key-data is not valid base64: a character outside the base64 "
        "alphabet at offset 17");
  CHECK(key_error.find(secret) == std::string::npos);

  CHECK(error_for(kServer, "    client-certificate-data: " + cert + "\n    client-key-data: QUJD\n") ==
        "context \"ctx\": user \"u\" in kc: client-key-data holds no PEM private key (-----BEGIN ... PRIVATE KEY----- "
        "once decoded)");
  CHECK(error_for(kServer + "    certificate-authority-data: QUJDRA\n", "    token: t\n") ==
        "context \"ctx\": cluster \"c\" in kc: certificate-authority-data is not valid base64: a truncated last group "
        "(the length is not a multiple of 4) at offset 4");
  CHECK(error_for(kServer + "    certificate-authority-data: QQ==QUJD\n", "    token: t\n") ==
        "context \"ctx\": cluster \"c\" in kc: certificate-authority-data is not valid base64: data after the final "
        "padding at offset 4");
  CHECK(error_for(kServer + "    certificate-authority-data: \"-----BEGIN CERTIFICATE-----\\nQUJD\\n\"\n",
                  "    token: t\n") ==
        "context \"ctx\": cluster \"c\" in kc: certificate-authority-data is not valid base64: a character outside the "
        "base64 alphabet at offset 0 (it looks like PEM text: base64-encode it, or put it in a file and name that file "
        "in certificate-authority)");

  // Line breaks inside a long value are allowed, as YAML folds them.
  std::string folded = cert.substr(0, 8) + "\n      " + cert.substr(8);
  auto config = Kubeconfig::parse(
      kubeconfig(kServer + "    certificate-authority-data: |\n      " + folded + "\n", "    token: t\n"), "kc");
  CHECK(config.endpoint().ca_pem == "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n");
}

TEST_CASE("Malformed kubeconfigs name the file and where in it", "[kubeconfig]") {
  TempDir dir;
  std::string bad_yaml = dir.write("bad", "clusters:\n- name: c\n  cluster: {server: https://h\n");
  std::string err = error_of([&] { Kubeconfig::load(bad_yaml, with_kubeconfig("")); });
  CHECK(err.rfind(bad_yaml + ":4:1: invalid YAML: ", 0) == 0);

  // kubectl refuses a value of the wrong type in any entry, used or not.
  std::string numeric = dir.write("numeric", "users:\n- name: u\n  user:\n    token: 12345\n");
  CHECK(error_of([&] { Kubeconfig::load(numeric, with_kubeconfig("")); }) ==
        numeric + ": user \"u\": user.token must be a string, but YAML reads it as a number; quote it");
  CHECK(error_of([&] { Kubeconfig::parse("users:\n- name: u\n  user:\n    exec: {args: [--x, 1]}\n", "kc"); }) ==
        "kc: user \"u\": user.exec.args[1] must be a string, but YAML reads it as a number; quote it");
  CHECK(error_of([&] {
          Kubeconfig::parse("clusters:\n- name: c\n  cluster: {insecure-skip-tls-verify: 'yes'}\n", "kc");
        }) == "kc: cluster \"c\": cluster.insecure-skip-tls-verify must be true or false");
  CHECK(error_of([&] { Kubeconfig::parse("clusters: {c: {}}\n", "kc"); }) ==
        "kc: clusters must be a list, not a mapping");
  CHECK(error_of([&] { Kubeconfig::parse("clusters:\n- cluster: {server: https://h}\n", "kc"); }) ==
        "kc: clusters[0] has no name");
  CHECK(error_of([&] { Kubeconfig::parse("contexts:\n- name: a\n  context: {}\n- name: a\n  context: {}\n", "kc"); }) ==
        "kc: context \"a\" is defined twice; remove one");
  CHECK(error_of([&] { Kubeconfig::parse("- a\n- b\n", "kc"); }) ==
        "kc: not a kubeconfig: the document is a list, not a mapping");
  CHECK(error_of([&] { Kubeconfig::parse("apiVersion: apps/v1\nkind: Deployment\n", "kc"); }) ==
        "kc: not a kubeconfig: its kind is Deployment, not Config");
  CHECK(error_of([&] {
          Kubeconfig::parse("users:\n- name: u\n  user:\n    exec:\n      env: [{value: x}]\n", "kc");
        }) == "kc: user \"u\": user.exec.env[0] has no name");

  // An empty file is an empty kubeconfig, as for kubectl.
  CHECK(Kubeconfig::parse("", "empty").contexts().empty());
}

TEST_CASE("User entries refit cannot honour are refused with what to use instead", "[kubeconfig]") {
  auto error_for = [](const std::string& user_fields) {
    return error_of([&] { Kubeconfig::parse(kubeconfig(kServer, user_fields), "/home/me/.kube/config").endpoint(); });
  };
  const std::string where = "context \"ctx\": user \"u\" in /home/me/.kube/config";
  CHECK(error_for("    auth-provider:\n      name: gcp\n      config: {access-token: SECRETACCESSTOKEN}\n") ==
        where +
            " uses auth-provider \"gcp\", which kubectl removed in v1.26 and refit does not support; use the exec "
            "credential plugin gke-gcloud-auth-plugin (gcloud container clusters get-credentials writes it into the "
            "kubeconfig) instead");
  CHECK(error_for("    auth-provider:\n      name: oidc\n") ==
        where +
            " uses auth-provider \"oidc\", which kubectl removed in v1.26 and refit does not support; use an exec "
            "credential plugin such as kubelogin (kubectl oidc-login) instead");
  CHECK(error_for("    username: admin\n    password: SECRETPASSWORD\n") ==
        where +
            " authenticates with username and password (basic authentication), which Kubernetes removed in v1.19 "
            "and refit does not support; use a token, a client certificate or an exec credential plugin");
  CHECK(error_for("    token: t\n    as: system:admin\n") ==
        where +
            " impersonates another identity (as, as-uid, as-groups or as-user-extra), which refit does not "
            "support; use a user that authenticates as the identity to act as");
  CHECK(error_for("    client-certificate: a.crt\n    client-certificate-data: QUJD\n    client-key: a.key\n") ==
        where + " sets both client-certificate-data and client-certificate; keep one");
  CHECK(error_for("    client-certificate: a.crt\n") ==
        where + " has a client certificate without its key (client-key or client-key-data)");
  CHECK(error_for("    exec: {command: aws}\n") ==
        where + ": exec.apiVersion is not set (write client.authentication.k8s.io/v1)");
  CHECK(error_for("    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1alpha1}\n") ==
        where +
            ": exec.apiVersion client.authentication.k8s.io/v1alpha1 is not supported: use "
            "client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1 (with a plugin version that "
            "speaks it)");
  CHECK(error_for("    exec: {command: kubelogin, apiVersion: client.authentication.k8s.io/v1, interactiveMode: "
                  "Always}\n") ==
        where +
            ": exec.interactiveMode is Always, but refit runs credential plugins without a terminal; log in with "
            "the plugin first and set interactiveMode: IfAvailable");

  // Basic authentication beside another method is ignored, as API servers do.
  auto config =
      Kubeconfig::parse(kubeconfig(kServer, "    token: the-token\n    username: admin\n    password: x\n"), "kc");
  CHECK(config.endpoint().credentials->bearer_token() == "the-token");
}

TEST_CASE("A kubeconfig given as text is read the same way, under the name of where it came from", "[kubeconfig]") {
  std::string secret_value = kubeconfig(kServer + "    certificate-authority: pki/ca.crt\n",
                                        "    client-certificate-data: " + pem_base64("CERTIFICATE", "Yw==") +
                                            "\n    client-key-data: " + pem_base64("EC PRIVATE KEY", "aw==") + "\n");
  auto config = Kubeconfig::parse(secret_value, "Secret default/demo-kubeconfig", fs::absolute(kFixtures).string());
  CHECK(config.files() == std::vector<std::string>{"Secret default/demo-kubeconfig"});
  Endpoint e = config.endpoint();
  CHECK(e.ca_pem == refit::kube::testing::read_text(kFixtures + "pki/ca.crt"));
  auto pair = e.credentials->client_certificate();
  REQUIRE(pair.has_value());
  CHECK(pair->cert_pem == "-----BEGIN CERTIFICATE-----\nYw==\n-----END CERTIFICATE-----\n");
  CHECK(pair->key_pem == "-----BEGIN EC PRIVATE KEY-----\naw==\n-----END EC PRIVATE KEY-----\n");
  CHECK(e.credentials->bearer_token() == std::nullopt);
  CHECK(e.credentials->describe() == "client certificate");

  CHECK(error_of([&] { config.endpoint("other"); }) ==
        "context \"other\" not found in Secret default/demo-kubeconfig; contexts: ctx");
}
