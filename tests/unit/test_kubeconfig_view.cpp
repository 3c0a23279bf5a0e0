// What a playbook sees of a kubeconfig context (cluster:kubeconfig()): names, the server without
// user information, and the exec plugin's command line with every value whose name looks like a
// secret replaced; and the simulated cluster answers what its fixture gives.
#include <catch2/catch.hpp>

#include "cluster/kube/kube_cluster.hpp"
#include "cluster/kube/kubeconfig.hpp"
#include "cluster/kube/kubeconfig_view.hpp"
#include "cluster/sim/sim_cluster.hpp"

using namespace refit::kube;
using nlohmann::json;

TEST_CASE("secret-looking names are recognised whatever their case", "[kubeconfig_view]") {
  for (const char* name : {"--client-secret", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN",
                           "--token", "--password", "DB_PASSWD", "--api-key", "GOOGLE_APPLICATION_CREDENTIALS"}) {
    CHECK(looks_like_secret_name(name));
  }
  for (const char* name : {"--cluster-name", "--region", "AWS_PROFILE", "AWS_REGION", "--output", "-i", "--role-arn"}) {
    CHECK_FALSE(looks_like_secret_name(name));
  }
}

TEST_CASE("the exec plugin's secret values are replaced, the rest kept as written", "[kubeconfig_view]") {
  ExecPluginConfig config;
  config.command = "/usr/local/bin/kubelogin";
  config.args = {"get-token", "--client-secret", "S3CRET-1", "--client-id", "app", "--token-cache-dir=/tmp/cache",
                 "--password=S3CRET-2", "--token-only", "--region", "eu-west-1", "token", "-i", "demo"};
  config.env = {{"AWS_PROFILE", "ops"}, {"AWS_SECRET_ACCESS_KEY", "S3CRET-3"}};
  ExecPluginView view = exec_plugin_view(config);
  CHECK(view.command == "/usr/local/bin/kubelogin");
  // "--token-only" is a flag without a value: "--region" after it is kept, and so is a positional
  // "token" (a subcommand) and what follows it.
  CHECK(view.args == std::vector<std::string>{"get-token", "--client-secret", "[redacted]", "--client-id", "app",
                                              "--token-cache-dir=[redacted]", "--password=[redacted]", "--token-only",
                                              "--region", "eu-west-1", "token", "-i", "demo"});
  CHECK(view.env == std::vector<std::pair<std::string, std::string>>{{"AWS_PROFILE", "ops"},
                                                                     {"AWS_SECRET_ACCESS_KEY", "[redacted]"}});
}

TEST_CASE("a kube cluster's kubeconfig view names the context, server and plugin, never a credential",
          "[kubeconfig_view]") {
  auto config = Kubeconfig::parse(
      "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
      "clusters:\n- name: arn:aws:eks:eu-west-1:111122223333:cluster/prod\n"
      "  cluster: {server: 'https://ops:S3CRET-4@0123ABCD.gr7.eu-west-1.eks.amazonaws.com'}\n"
      "users:\n- name: eks\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
      "      command: aws\n      args: [--region, eu-west-1, eks, get-token, --cluster-name, prod]\n"
      "      env: [{name: AWS_PROFILE, value: ops}, {name: AWS_SESSION_TOKEN, value: S3CRET-5}]\n"
      "contexts:\n- name: prod\n  context: {cluster: 'arn:aws:eks:eu-west-1:111122223333:cluster/prod', user: eks, "
      "namespace: shop}\n",
      "kc");
  KubeCluster cluster("prod", config.endpoint());
  json view = cluster.kubeconfig();
  CHECK(view == json{{"context", "prod"},
                     {"cluster", "arn:aws:eks:eu-west-1:111122223333:cluster/prod"},
                     {"server", "https://0123ABCD.gr7.eu-west-1.eks.amazonaws.com"},
                     {"namespace", "shop"},
                     {"exec",
                      {{"command", "aws"},
                       {"args", {"--region", "eu-west-1", "eks", "get-token", "--cluster-name", "prod"}},
                       {"env", {{"AWS_PROFILE", "ops"}, {"AWS_SESSION_TOKEN", "[redacted]"}}}}}});
  CHECK(view.dump().find("S3CRET") == std::string::npos);

  // A user entry without a plugin: no exec.
  auto plain = Kubeconfig::parse(
      "clusters:\n- name: c\n  cluster: {server: 'https://10.0.0.1:6443'}\nusers:\n- name: u\n  user: {token: S3CRET-6}\n"
      "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n",
      "kc");
  KubeCluster token_cluster("ctx", plain.endpoint("ctx"));
  CHECK(token_cluster.kubeconfig() ==
        json{{"context", "ctx"}, {"cluster", "c"}, {"server", "https://10.0.0.1:6443"}, {"namespace", "default"}});
}

TEST_CASE("a simulated cluster answers the kubeconfig its fixture gives, else null", "[kubeconfig_view]") {
  refit::sim::SimCluster c("demo", "v1.20.15", [] { return std::int64_t{0}; });
  CHECK(c.kubeconfig().is_null());
  c.set_kubeconfig(json{{"context", "prod"}});
  CHECK(c.kubeconfig() == json{{"context", "prod"}});
}
