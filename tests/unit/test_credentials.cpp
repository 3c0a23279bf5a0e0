// Credentials from kubeconfig users: inline and file tokens and certificates (files re-read when they
// change), exec credential plugins (v1 and v1beta1; cached until expiry or invalidate(); failures
// named without the plugin's output), and redaction: no secret in any message or description.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cluster/kube/base64.hpp"
#include "cluster/kube/exec_credential.hpp"
#include "cluster/kube/kubeconfig.hpp"
#include "kube_test_files.hpp"

using namespace refit::kube;
using refit::kube::testing::error_of;
using refit::kube::testing::fixture_plugin;
using refit::kube::testing::plugin_runs;
using refit::kube::testing::read_text;
using refit::kube::testing::TempDir;
using Json = nlohmann::json;
using std::chrono::system_clock;

namespace {

// A kubeconfig whose one context uses the fixture plugin: `exec_fields` go under user.exec (YAML at
// that indentation) beside the command; PLUGIN_RUNS and PLUGIN_REQUEST point into `dir`.
std::string plugin_kubeconfig(const TempDir& dir, const std::string& api_version, const std::string& mode,
                              const std::string& exec_fields = "", const std::string& cluster_fields = "") {
  return fmt::format(R"(current-context: ctx
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443
{}users:
- name: u
  user:
    exec:
      apiVersion: {}
      command: {}
      args: [{}]
      interactiveMode: Never
      env:
      - {{name: PLUGIN_RUNS, value: {}}}
      - {{name: PLUGIN_REQUEST, value: {}}}
      - {{name: PLUGIN_TOKEN, value: SECRETPLUGINTOKEN}}
{}contexts:
- name: ctx
  context: {{cluster: c, user: u}}
)",
                     cluster_fields, api_version, fixture_plugin(), mode, dir.path("runs"), dir.path("request.json"),
                     exec_fields);
}

Endpoint plugin_endpoint(const TempDir& dir, const std::string& api_version, const std::string& mode,
                         const std::string& exec_fields = "", CredentialOptions options = {}) {
  return Kubeconfig::parse(plugin_kubeconfig(dir, api_version, mode, exec_fields), "kc").endpoint("", options);
}

const std::string kV1 = "client.authentication.k8s.io/v1";
const std::string kV1beta1 = "client.authentication.k8s.io/v1beta1";

// Sets a file's modification time, so that a test changes it without waiting for the clock to tick.
void set_mtime(const std::string& path, std::time_t seconds) {
  timespec times[2] = {{seconds, 0}, {seconds, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

// Sets a variable of this process's environment for the length of a test.
struct ScopedVariable {
  std::string name;
  ScopedVariable(std::string n, const std::string& value) : name(std::move(n)) {
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedVariable() { ::unsetenv(name.c_str()); }
};

// A clock the test moves.
struct TestClock {
  system_clock::time_point now;
  std::function<system_clock::time_point()> function() {
    return [this] { return now; };
  }
};

system_clock::time_point at(const std::string& rfc3339) { return *parse_rfc3339(rfc3339); }

// A user entry of context "ctx", user "u", defined in "kc".
CredentialSpec user_spec() {
  CredentialSpec spec;
  spec.context = "ctx";
  spec.user = "u";
  spec.origin = "kc";
  return spec;
}

}  // namespace

TEST_CASE("An inline token is sent as it is", "[credentials]") {
  CredentialSpec spec = user_spec();
  spec.token = "inline-token";
  auto credentials = make_credentials(spec);
  CHECK(credentials->bearer_token() == "inline-token");
  CHECK(credentials->client_certificate() == std::nullopt);
  CHECK(credentials->describe() == "token");
}

TEST_CASE("A tokenFile is re-read when it changes, as projected tokens rotate", "[credentials]") {
  TempDir dir;
  std::string token_file = dir.write("token", "first-token-aaaa\n");
  set_mtime(token_file, 1'700'000'000);
  CredentialSpec spec = user_spec();
  spec.token = "inline-token-loses";  // a tokenFile wins over an inline token, as in kubectl
  spec.token_file = token_file;
  auto credentials = make_credentials(spec);
  CHECK(credentials->bearer_token() == "first-token-aaaa");

  // Same size, same modification time: the file is taken as unchanged and not read again.
  dir.write("token", "other-token-bbbb\n");
  set_mtime(token_file, 1'700'000'000);
  CHECK(credentials->bearer_token() == "first-token-aaaa");
  // A new modification time is a change.
  set_mtime(token_file, 1'700'000'060);
  CHECK(credentials->bearer_token() == "other-token-bbbb");
  // A rotation by rename (a new file in place of the old) is a change too.
  std::string next = dir.write("token.next", "third-token\n");
  REQUIRE(std::rename(next.c_str(), token_file.c_str()) == 0);
  CHECK(credentials->bearer_token() == "third-token");
  // After a 401, invalidate() has the file read again whatever its stamp says.
  dir.write("token", "fourth-token\n");
  set_mtime(token_file, 1'700'000'060);
  credentials->invalidate();
  CHECK(credentials->bearer_token() == "fourth-token");

  dir.write("token", " \n");
  set_mtime(token_file, 1'700'000'120);
  CHECK(error_of([&] { credentials->bearer_token(); }) ==
        "context \"ctx\": user \"u\" in kc: tokenFile " + token_file + " is empty");
  std::remove(token_file.c_str());
  CHECK(error_of([&] { credentials->bearer_token(); }) ==
        "context \"ctx\": user \"u\" in kc: cannot read tokenFile " + token_file + ": No such file or directory");
}

TEST_CASE("Client certificates come inline or from files, which are re-read when they change", "[credentials]") {
  TempDir dir;
  std::string cert = dir.write("client.crt", "-----BEGIN CERTIFICATE-----\nb25l\n-----END CERTIFICATE-----\n");
  std::string key =
      dir.write("client.key", "-----BEGIN RSA PRIVATE KEY-----\nSECRETKEYONE\n-----END RSA PRIVATE KEY-----\n");
  CredentialSpec spec = user_spec();
  spec.cert_file = cert;
  spec.key_file = key;
  auto credentials = make_credentials(spec);
  auto pair = credentials->client_certificate();
  REQUIRE(pair.has_value());
  CHECK(pair->cert_pem == read_text(cert));
  CHECK(pair->key_pem == read_text(key));
  CHECK(credentials->bearer_token() == std::nullopt);
  CHECK(credentials->describe() == "client certificate from file " + cert);

  dir.write("client.key", "-----BEGIN RSA PRIVATE KEY-----\nSECRETKEYTWO-rotated\n-----END RSA PRIVATE KEY-----\n");
  CHECK(credentials->client_certificate()->key_pem == read_text(key));

  // A certificate where the key belongs (and the other way round) is named before TLS sees it.
  dir.write("client.key", read_text(cert));
  CHECK(error_of([&] { credentials->client_certificate(); }) ==
        "context \"ctx\": user \"u\" in kc: client-key " + key +
            " holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)");
}

TEST_CASE("An exec plugin (v1) runs once, is cached, and runs again after invalidate()", "[credentials][exec]") {
  TempDir dir;
  // The kubeconfig's env wins over refit's own environment.
  ScopedVariable ours("PLUGIN_TOKEN", "from-refit-environment");
  Endpoint endpoint = plugin_endpoint(dir, kV1, "token");
  CHECK(plugin_runs(dir.path("runs")) == 0);  // not run until a credential is asked for
  CHECK(endpoint.credentials->bearer_token() == "SECRETPLUGINTOKEN-1");
  CHECK(endpoint.credentials->bearer_token() == "SECRETPLUGINTOKEN-1");
  CHECK(endpoint.credentials->client_certificate() == std::nullopt);
  CHECK(plugin_runs(dir.path("runs")) == 1);

  // What the plugin was told, without the cluster (provideClusterInfo is not set).
  CHECK(Json::parse(read_text(dir.path("request.json"))) ==
        Json::parse(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
                        "spec":{"interactive":false}})"));

  endpoint.credentials->invalidate();
  CHECK(endpoint.credentials->bearer_token() == "SECRETPLUGINTOKEN-2");
  CHECK(plugin_runs(dir.path("runs")) == 2);
  CHECK(endpoint.credentials->describe() == "exec plugin " + fixture_plugin() + " (client.authentication.k8s.io/v1)");
}

TEST_CASE("An exec plugin inherits refit's environment, reads an empty stdin and none of refit's descriptors",
          "[credentials][exec]") {
  TempDir dir;
  ScopedVariable inherited("REFIT_TEST_INHERITED", "yes");
  // A descriptor of ours without O_CLOEXEC (as a library may open one) stays ours.
  int leaked = ::open("/dev/null", O_RDONLY);
  REQUIRE(leaked >= 3);
  ScopedVariable leaked_fd("REFIT_TEST_FD", std::to_string(leaked));
  // Our stdin has something to read: the plugin must not get it (nor wait on a terminal).
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  REQUIRE(::write(pipe_fds[1], "parent-stdin", 12) == 12);
  ::close(pipe_fds[1]);
  int saved_stdin = ::dup(0);
  ::dup2(pipe_fds[0], 0);
  ::close(pipe_fds[0]);
  Endpoint endpoint = plugin_endpoint(dir, kV1beta1, "stdin");
  std::optional<std::string> token = endpoint.credentials->bearer_token();
  ::dup2(saved_stdin, 0);
  ::close(saved_stdin);
  ::close(leaked);
  CHECK(token == "stdin=;inherited=yes;fd=closed");
}

TEST_CASE("An exec plugin that leaves a child holding its output is done soon after it exits", "[credentials][exec]") {
  TempDir dir;
  CredentialOptions options;
  options.plugin_timeout = std::chrono::milliseconds(20'000);
  Endpoint endpoint = plugin_endpoint(dir, kV1, "background", "", options);
  // Waiting for the pipe to close would take the child's 30 s: the timeout would stop the plugin and
  // there would be no token. The child is left running, as kubectl leaves it.
  CHECK(endpoint.credentials->bearer_token() == "SECRETPLUGINTOKEN-1");
  pid_t child = std::stoi(read_text(dir.path("runs") + ".child"));
  CHECK(::kill(child, SIGKILL) == 0);
}

TEST_CASE("An exec plugin (v1beta1) with provideClusterInfo is told the cluster", "[credentials][exec]") {
  TempDir dir;
  std::string ca_pem = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n";
  std::string cluster_fields = "    certificate-authority: " + dir.write("ca.crt", ca_pem) +
                               "\n    tls-server-name: api.internal\n    proxy-url: http://proxy:3128\n"
                               "    extensions:\n    - name: client.authentication.k8s.io/exec\n"
                               "      extension: {audience: sts.amazonaws.com}\n";
  Endpoint endpoint =
      Kubeconfig::parse(plugin_kubeconfig(dir, kV1beta1, "token", "      provideClusterInfo: true\n", cluster_fields),
                        "kc")
          .endpoint();
  CHECK(endpoint.credentials->bearer_token() == "SECRETPLUGINTOKEN-1");
  CHECK(Json::parse(read_text(dir.path("request.json"))) ==
        Json{{"apiVersion", kV1beta1},
             {"kind", "ExecCredential"},
             {"spec",
              {{"interactive", false},
               {"cluster",
                {{"server", "https://10.0.0.1:6443"},
                 {"tls-server-name", "api.internal"},
                 {"certificate-authority-data",
                  "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClkyRT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="},
                 {"proxy-url", "http://proxy:3128"},
                 {"config", {{"audience", "sts.amazonaws.com"}}}}}}}});
}

TEST_CASE("A plugin's credential is cached until shortly before the expiry it states", "[credentials][exec]") {
  TempDir dir;
  TestClock clock{at("2030-01-01T09:00:00Z")};
  CredentialOptions options;
  options.now = clock.function();
  options.expiry_margin = std::chrono::seconds(10);
  Endpoint endpoint = plugin_endpoint(dir, kV1, "token",
                                      "      - {name: PLUGIN_EXPIRY, value: '2030-01-01T10:00:00+00:00'}\n", options);

  CHECK(endpoint.credentials->bearer_token() == "SECRETPLUGINTOKEN-1");
  clock.now = at("2030-01-01T09:59:49Z");
  CHECK(endpoint.credentials->bearer_token() == "SECRETPLUGINTOKEN-1");
  CHECK(plugin_runs(dir.path("runs")) == 1);
  // Within the margin of the expiry: run again. (Its new credential states the same expiry, so each
  // later call runs it again too.)
  clock.now = at("2030-01-01T09:59:50Z");
  CHECK(endpoint.credentials->bearer_token() == "SECRETPLUGINTOKEN-2");
  CHECK(endpoint.credentials->bearer_token() == "SECRETPLUGINTOKEN-3");
  CHECK(plugin_runs(dir.path("runs")) == 3);
}

TEST_CASE("A plugin may answer with a client certificate", "[credentials][exec]") {
  TempDir dir;
  Endpoint endpoint = plugin_endpoint(dir, kV1beta1, "cert");
  auto pair = endpoint.credentials->client_certificate();
  REQUIRE(pair.has_value());
  CHECK(pair->cert_pem == "-----BEGIN CERTIFICATE-----\nplugin-cert-1\n-----END CERTIFICATE-----\n");
  CHECK(pair->key_pem == "-----BEGIN PRIVATE KEY-----\nSECRETPLUGINTOKEN-1\n-----END PRIVATE KEY-----\n");
  CHECK(endpoint.credentials->bearer_token() == std::nullopt);
  CHECK(plugin_runs(dir.path("runs")) == 1);
}

TEST_CASE("A token or certificate beside an exec plugin is used and the plugin is not run", "[credentials][exec]") {
  TempDir dir;
  std::string text = plugin_kubeconfig(dir, kV1, "token");
  text.replace(text.find("    exec:\n"), 10, "    token: static-token\n    exec:\n");
  Endpoint endpoint = Kubeconfig::parse(text, "kc").endpoint();
  CHECK(endpoint.credentials->bearer_token() == "static-token");
  CHECK(endpoint.credentials->client_certificate() == std::nullopt);
  CHECK(plugin_runs(dir.path("runs")) == 0);
}

TEST_CASE("Plugin failures name the context and the command, and never the plugin's output", "[credentials][exec]") {
  TempDir dir;
  std::string who = "context \"ctx\": credential plugin \"" + fixture_plugin() + "\" (user \"u\" in kc)";
  auto failure = [&](const std::string& api_version, const std::string& mode, CredentialOptions options = {}) {
    Endpoint endpoint = plugin_endpoint(dir, api_version, mode, "", options);
    std::string message = error_of([&] { endpoint.credentials->bearer_token(); });
    // Whatever it printed, the credential is not in the message.
    CHECK(message.find("SECRETPLUGINTOKEN") == std::string::npos);
    return message;
  };

  CHECK(failure(kV1, "exit") == who +
                                    " exited with status 3; its stderr ends with:\n"
                                    "  contacting the identity provider\n"
                                    "  refreshing [redacted]\n"
                                    "  error: the refresh token has expired; run the login command again");
  CHECK(failure(kV1, "not-json") ==
        who + " gave no usable credential: it printed something other than JSON on stdout (invalid at byte 2)");
  CHECK(failure(kV1, "wrong-version") ==
        who +
            " gave no usable credential: it answered with apiVersion client.authentication.k8s.io/v1beta1, but the "
            "kubeconfig asks for client.authentication.k8s.io/v1");
  CHECK(failure(kV1beta1, "no-credential") ==
        who +
            " gave no usable credential: its status has neither a token nor a client certificate (status.token, or "
            "status.clientCertificateData and status.clientKeyData)");
  CHECK(failure(kV1, "bad-expiry") ==
        who +
            " gave no usable credential: its status.expirationTimestamp is not an RFC 3339 time "
            "(2024-05-01T10:00:00Z)");
  CHECK(failure(kV1, "killed") == who + " was killed by signal 9 (Killed)");
  CHECK(failure(kV1, "flood") == who + " printed more than 4 MiB on stdout (an ExecCredential is a few KiB)");

  // A plugin that hangs (with a child holding its output open) is stopped at the timeout.
  CredentialOptions quick;
  quick.plugin_timeout = std::chrono::milliseconds(200);
  CHECK(failure(kV1, "hang", quick) == who + " did not finish within 200ms and was stopped");
}

TEST_CASE("A plugin that is not installed is named, with its installHint; one that cannot run says why", "[credentials][exec]") {
  auto endpoint_for = [](const std::string& exec_fields) {
    return Kubeconfig::parse(
               "current-context: ctx\n"
               "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
               "users:\n- name: u\n  user:\n    exec:\n"
               "      apiVersion: client.authentication.k8s.io/v1beta1\n" +
                   exec_fields + "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n",
               "kc", "/nonexistent/dir")
        .endpoint();
  };
  Endpoint hinted = endpoint_for(
      "      command: refit-test-no-such-plugin\n"
      "      installHint: |\n        refit-test-no-such-plugin is needed to reach this cluster.\n"
      "        Install it with: apt install refit-test-no-such-plugin\n");
  CHECK(error_of([&] { hinted.credentials->bearer_token(); }) ==
        "context \"ctx\": credential plugin \"refit-test-no-such-plugin\" (user \"u\" in kc) was not found on PATH\n"
        "refit-test-no-such-plugin is needed to reach this cluster.\n"
        "Install it with: apt install refit-test-no-such-plugin");

  Endpoint relative = endpoint_for("      command: bin/plugin\n");
  CHECK(error_of([&] { relative.credentials->client_certificate(); }) ==
        "context \"ctx\": credential plugin \"/nonexistent/dir/bin/plugin\" (user \"u\" in kc) was not found\n"
        "Install it, or correct exec.command in the kubeconfig.");

  TempDir dir;
  std::string not_executable = dir.write("plugin", "#!/bin/sh\necho '{}'\n");  // mode 0644
  Endpoint unrunnable = endpoint_for("      command: " + not_executable + "\n");
  CHECK(error_of([&] { unrunnable.credentials->bearer_token(); }) ==
        "context \"ctx\": credential plugin \"" + not_executable + "\" (user \"u\" in kc) could not be started: " +
            not_executable + ": permission denied\nMake it executable, or correct exec.command in the kubeconfig.");
}

TEST_CASE("No secret reaches a message or a description", "[credentials][redaction]") {
  // Distinctive values in every secret field; every way of failing around them.
  const std::string token = "SECRETTOKENVALUE0123", key_body = "SECRETKEYBODY4567", password = "SECRETPASSWORD89";
  std::string key_data = encode_base64("-----BEGIN PRIVATE KEY-----\n" + key_body + "\n-----END PRIVATE KEY-----\n");
  std::vector<std::string> messages;
  auto collect = [&](const std::string& user_fields, const std::string& context = "") {
    std::string text =
        "current-context: ctx\n"
        "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
        "users:\n- name: u\n  user:\n" +
        user_fields + "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n";
    try {
      Endpoint e = Kubeconfig::parse(text, "kc").endpoint(context);
      messages.push_back(describe(e));
      messages.push_back(e.credentials->describe());
      try {
        e.credentials->bearer_token();
        e.credentials->client_certificate();
      } catch (const std::exception& err) {
        messages.push_back(err.what());
      }
    } catch (const std::exception& err) {
      messages.push_back(err.what());
    }
  };
  collect("    token: " + token + "\n");
  collect("    token: " + token + "\n", "missing-context");
  collect("    token: " + token + "\n    as: admin\n");
  collect("    token: " + token + "\n    client-certificate: /nonexistent/c.crt\n    client-key-data: " + key_data +
          "\n");
  collect("    client-certificate-data: QUJD\n    client-key-data: " + key_data + "\n");
  collect("    client-certificate-data: " + key_data + "\n    client-key-data: " + key_data + "\n");
  collect("    client-certificate-data: " + key_data + "\n    client-key-data: " + key_data + "x\n");
  collect("    username: admin\n    password: " + password + "\n");
  collect("    auth-provider: {name: oidc, config: {id-token: " + token + ", refresh-token: " + token + "}}\n");
  collect("    token: 12345\n    password: " + password + "\n");
  REQUIRE(messages.size() >= 10);
  for (const auto& message : messages) {
    INFO(message);
    CHECK(message.find("SECRET") == std::string::npos);
  }
}

TEST_CASE("Expiry timestamps are read as RFC 3339, with offsets and fractions", "[credentials][exec]") {
  using std::chrono::milliseconds;
  CHECK(at("2030-01-01T12:00:00.5+02:00") == at("2030-01-01T10:00:00Z") + milliseconds(500));
  CHECK(at("2029-12-31t23:30:00-00:30") == at("2030-01-01T00:00:00z"));
  CHECK(system_clock::to_time_t(at("2030-01-01T00:00:00Z")) == 1'893'456'000);
  for (const char* bad : {"2030-01-01", "2030-01-01T00:00:00", "2030-13-01T00:00:00Z", "tomorrow", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad).has_value());
  }
}
