// Which kubeconfig files kubectl would read, and the resolution of one context of their merged
// entries to an Endpoint with its Credentials: the checks kubectl makes on the entries it uses, and
// the ones refit adds (no silent fallback to localhost, no auth method that cannot work).
#include "cluster/kube/kubeconfig.hpp"

#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cluster/kube/base64.hpp"
#include "cluster/kube/exec_credential.hpp"
#include "cluster/kube/kubeconfig_view.hpp"
#include "cluster/kube/http_client.hpp"
#include "cluster/kube/kubeconfig_entries.hpp"

namespace refit::kube {

using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSimExtension = "refit.dev/sim";
constexpr const char* kExecExtension = "client.authentication.k8s.io/exec";

std::string join(const std::vector<std::string>& items) { return fmt::format("{}", fmt::join(items, ", ")); }

template <typename Map>
std::string names_of(const Map& map) {
  std::vector<std::string> names;
  for (const auto& [name, entry] : map) names.push_back(name);
  return names.empty() ? "none" : join(names);
}

}  // namespace

struct Kubeconfig::Data {
  KubeconfigEntries entries;
  std::string nothing_found;  // where refit looked, when no file was read
};

namespace {

// The text of a kubeconfig file, or nullopt when it does not exist and `missing_ok`.
std::optional<std::string> read_kubeconfig_file(const std::string& path, bool missing_ok) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT && missing_ok) return std::nullopt;
    throw KubeconfigError(fmt::format("cannot read kubeconfig {}: {}", path, std::strerror(err)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw KubeconfigError(fmt::format("cannot read kubeconfig {}: {}", path, std::strerror(errno)));
  return text.str();
}

std::string directory_of(const std::string& path) {
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec);
  return (ec ? fs::path(path) : absolute).parent_path().string();
}

// KUBECONFIG's list: ':'-separated, empty entries and repeats dropped.
std::vector<std::string> split_kubeconfig_list(const std::string& value) {
  std::vector<std::string> paths;
  std::set<std::string> seen;
  std::size_t start = 0;
  while (start <= value.size()) {
    auto end = value.find(':', start);
    if (end == std::string::npos) end = value.size();
    std::string path = value.substr(start, end - start);
    if (!path.empty() && seen.insert(path).second) paths.push_back(path);
    start = end + 1;
  }
  return paths;
}

// Decodes a *-data field. The message says which field is wrong and where, never its content.
std::string decode_field(const std::string& value, const char* field, const char* file_field,
                         const std::string& where) {
  Base64Problem problem;
  auto decoded = decode_base64(value, problem);
  if (decoded) return *decoded;
  std::string hint = value.find("-----BEGIN") != std::string::npos
                         ? fmt::format(
                               " (it looks like PEM text: base64-encode it, or put it in a file and name that "
                               "file in {})",
                               file_field)
                         : "";
  throw KubeconfigError(
      fmt::format("{}: {} is not valid base64: {} at offset {}{}", where, field, problem.what, problem.offset, hint));
}

// Decodes a *-data field that must hold PEM: a certificate, or for client-key-data a private key.
std::string decode_pem_field(const std::string& value, const char* field, const char* file_field,
                             const std::string& where) {
  std::string pem = decode_field(value, field, file_field, where);
  bool is_key = std::string(field) == "client-key-data";
  if (is_key ? !looks_like_pem_private_key(pem) : !looks_like_pem_certificate(pem)) {
    throw KubeconfigError(fmt::format("{}: {} holds no PEM {} ({} once decoded)", where, field,
                                      is_key ? "private key" : "certificate",
                                      is_key ? "-----BEGIN ... PRIVATE KEY-----" : "-----BEGIN CERTIFICATE-----"));
  }
  return pem;
}

std::string read_ca_file(const std::string& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw KubeconfigError(
        fmt::format("{}: cannot read certificate-authority {}: {}", where, path, std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool has_scheme(const std::string& url, std::initializer_list<const char*> schemes) {
  for (const char* scheme : schemes) {
    std::string prefix = std::string(scheme) + "://";
    if (url.size() > prefix.size() && url.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

std::string normalized_server(const std::string& server, const std::string& where) {
  if (server.empty()) throw KubeconfigError(fmt::format("{}: the cluster has no server", where));
  if (!has_scheme(server, {"https", "http"})) {
    std::string shown = displayable_url(server);
    throw KubeconfigError(fmt::format("{}: server \"{}\" does not start with https:// or http://; write https://{}",
                                      where, shown, shown));
  }
  std::string out = server;
  auto authority = out.find("://") + 3;
  while (out.size() > authority + 1 && out.back() == '/') out.pop_back();
  return out;
}

std::optional<double> sim_speed(const ClusterEntry& cluster, const std::string& where) {
  auto it = cluster.extensions.find(kSimExtension);
  if (it == cluster.extensions.end()) return std::nullopt;
  const Json& ext = it->second;
  const Json* speed = ext.is_object() && ext.contains("speed") ? &ext["speed"] : nullptr;
  if (!speed || !speed->is_number() || !std::isfinite(speed->get<double>()) || speed->get<double>() <= 0) {
    throw KubeconfigError(fmt::format(
        "{}: extension {} must hold a positive speed (extension: {{speed: 60}}: the served world's clock runs 60 "
        "times faster than the wall clock)",
        where, kSimExtension));
  }
  return speed->get<double>();
}

// What client-go passes a plugin as spec.cluster when the kubeconfig sets provideClusterInfo.
Json exec_cluster_info(const Endpoint& endpoint, const ClusterEntry& cluster) {
  Json info = {{"server", endpoint.server}};
  if (!endpoint.tls_server_name.empty()) info["tls-server-name"] = endpoint.tls_server_name;
  if (endpoint.insecure_skip_tls_verify) info["insecure-skip-tls-verify"] = true;
  if (!endpoint.ca_pem.empty()) info["certificate-authority-data"] = encode_base64(endpoint.ca_pem);
  if (!endpoint.proxy_url.empty()) info["proxy-url"] = endpoint.proxy_url;
  if (cluster.disable_compression) info["disable-compression"] = true;
  auto config = cluster.extensions.find(kExecExtension);
  if (config != cluster.extensions.end() && !config->second.is_null()) info["config"] = config->second;
  return info;
}

// What to use instead of an auth-provider kubectl no longer has.
std::string auth_provider_advice(const std::string& name) {
  if (name == "gcp") {
    return "the exec credential plugin gke-gcloud-auth-plugin (gcloud container clusters get-credentials "
           "writes it into the kubeconfig)";
  }
  if (name == "azure") return "the exec credential plugin kubelogin (kubelogin convert-kubeconfig writes it)";
  if (name == "oidc") return "an exec credential plugin such as kubelogin (kubectl oidc-login)";
  return "an exec credential plugin (users[].user.exec)";
}

ExecPluginConfig check_exec(const ExecEntry& exec, const std::string& where) {
  if (exec.command.empty()) throw KubeconfigError(fmt::format("{}: exec.command is not set", where));
  if (exec.api_version.empty()) {
    throw KubeconfigError(fmt::format("{}: exec.apiVersion is not set (write {})", where, kExecApiV1));
  }
  if (exec.api_version != kExecApiV1 && exec.api_version != kExecApiV1beta1) {
    throw KubeconfigError(
        fmt::format("{}: exec.apiVersion {} is not supported: use {} or {} (with a plugin version "
                    "that speaks it)",
                    where, exec.api_version, kExecApiV1, kExecApiV1beta1));
  }
  if (exec.interactive_mode == "Always") {
    throw KubeconfigError(
        fmt::format("{}: exec.interactiveMode is Always, but refit runs credential plugins without a "
                    "terminal; log in with the plugin first and set interactiveMode: IfAvailable",
                    where));
  }
  if (!exec.interactive_mode.empty() && exec.interactive_mode != "Never" && exec.interactive_mode != "IfAvailable") {
    throw KubeconfigError(fmt::format("{}: exec.interactiveMode \"{}\" is not Never, IfAvailable or Always", where,
                                      exec.interactive_mode));
  }
  ExecPluginConfig config;
  config.api_version = exec.api_version;
  config.command = exec.command;
  config.args = exec.args;
  config.env = exec.env;
  config.install_hint = exec.install_hint;
  return config;
}

// The server, trust and proxy settings of a cluster entry, checked.
void resolve_cluster(const ClusterEntry& cluster, const std::string& cluster_where, Endpoint& endpoint) {
  endpoint.server = normalized_server(cluster.server, cluster_where);
  if (!cluster.ca_data.empty()) {
    endpoint.ca_pem =
        decode_pem_field(cluster.ca_data, "certificate-authority-data", "certificate-authority", cluster_where);
  } else if (!cluster.ca_file.empty()) {
    endpoint.ca_pem = read_ca_file(cluster.ca_file, cluster_where);
    if (!looks_like_pem_certificate(endpoint.ca_pem)) {
      throw KubeconfigError(
          fmt::format("{}: certificate-authority {} holds no PEM certificate", cluster_where, cluster.ca_file));
    }
  }
  endpoint.insecure_skip_tls_verify = cluster.insecure;
  if (cluster.insecure && !endpoint.ca_pem.empty()) {
    throw KubeconfigError(
        fmt::format("{}: insecure-skip-tls-verify is set together with a certificate-authority; "
                    "remove one (kubectl refuses this too)",
                    cluster_where));
  }
  endpoint.tls_server_name = cluster.tls_server_name;
  if (!cluster.proxy_url.empty() && !has_scheme(cluster.proxy_url, {"http", "https", "socks5"})) {
    throw KubeconfigError(fmt::format("{}: proxy-url must start with http://, https:// or socks5://", cluster_where));
  }
  endpoint.proxy_url = cluster.proxy_url;
  endpoint.sim_speed = sim_speed(cluster, cluster_where);
}

// The credentials of a user entry, checked: kubectl's own checks, and a refusal for what refit
// cannot honour (a silently dropped auth-provider or impersonation would act as someone else).
CredentialSpec user_credentials(const UserEntry& user, const std::string& user_where) {
  if (user.auth_provider) {
    throw KubeconfigError(
        fmt::format("{} uses auth-provider \"{}\", which kubectl removed in v1.26 and refit does not "
                    "support; use {} instead",
                    user_where, *user.auth_provider, auth_provider_advice(*user.auth_provider)));
  }
  if (user.impersonates) {
    throw KubeconfigError(
        fmt::format("{} impersonates another identity (as, as-uid, as-groups or as-user-extra), "
                    "which refit does not support; use a user that authenticates as the identity "
                    "to act as",
                    user_where));
  }
  if (!user.cert_data.empty() && !user.cert_file.empty()) {
    throw KubeconfigError(
        fmt::format("{} sets both client-certificate-data and client-certificate; keep one", user_where));
  }
  if (!user.key_data.empty() && !user.key_file.empty()) {
    throw KubeconfigError(fmt::format("{} sets both client-key-data and client-key; keep one", user_where));
  }
  bool has_cert = !user.cert_data.empty() || !user.cert_file.empty();
  bool has_key = !user.key_data.empty() || !user.key_file.empty();
  if (has_cert && !has_key) {
    throw KubeconfigError(
        fmt::format("{} has a client certificate without its key (client-key or client-key-data)", user_where));
  }
  if (has_key && !has_cert) {
    throw KubeconfigError(fmt::format(
        "{} has a client key without its certificate (client-certificate or client-certificate-data)", user_where));
  }
  bool other_auth = !user.token.empty() || !user.token_file.empty() || has_cert || user.exec;
  if (user.basic_auth && !other_auth) {
    throw KubeconfigError(
        fmt::format("{} authenticates with username and password (basic authentication), which "
                    "Kubernetes removed in v1.19 and refit does not support; use a token, a client "
                    "certificate or an exec credential plugin",
                    user_where));
  }
  CredentialSpec spec;
  spec.origin = user.origin;
  spec.token = user.token;
  spec.token_file = user.token_file;
  spec.cert_file = user.cert_file;
  spec.key_file = user.key_file;
  if (!user.cert_data.empty()) {
    spec.cert_pem = decode_pem_field(user.cert_data, "client-certificate-data", "client-certificate", user_where);
  }
  if (!user.key_data.empty()) {
    spec.key_pem = decode_pem_field(user.key_data, "client-key-data", "client-key", user_where);
  }
  if (user.exec) spec.exec = check_exec(*user.exec, user_where);
  return spec;
}

}  // namespace

KubeconfigEnvironment KubeconfigEnvironment::from_process() {
  KubeconfigEnvironment env;
  if (const char* value = std::getenv("KUBECONFIG")) env.kubeconfig = value;
  if (const char* home = std::getenv("HOME"); home && *home) {
    env.home = home;
  } else if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) {
    env.home = pw->pw_dir;
  }
  return env;
}

Kubeconfig Kubeconfig::load(const std::string& explicit_path, const KubeconfigEnvironment& environment) {
  auto data = std::make_shared<Data>();
  auto read = [&](const std::string& path, bool missing_ok) {
    auto text = read_kubeconfig_file(path, missing_ok);
    if (text) data->entries.merge(*text, path, directory_of(path));
  };
  if (!explicit_path.empty()) {
    read(explicit_path, false);
  } else if (environment.kubeconfig && !environment.kubeconfig->empty()) {
    auto paths = split_kubeconfig_list(*environment.kubeconfig);
    for (const auto& path : paths) read(path, true);
    data->nothing_found = fmt::format("no kubeconfig found: none of the files in KUBECONFIG exists ({})", join(paths));
  } else {
    std::string path = (fs::path(environment.home) / ".kube" / "config").string();
    read(path, true);
    data->nothing_found =
        fmt::format("no kubeconfig found: {} does not exist; set KUBECONFIG or pass --kubeconfig FILE", path);
  }
  return Kubeconfig(data);
}

Kubeconfig Kubeconfig::parse(const std::string& text, const std::string& origin, const std::string& base_dir) {
  auto data = std::make_shared<Data>();
  data->entries.merge(text, origin, base_dir);
  return Kubeconfig(data);
}

const std::vector<std::string>& Kubeconfig::files() const { return data_->entries.files; }

const std::string& Kubeconfig::current_context() const { return data_->entries.current_context; }

std::vector<KubeconfigContext> Kubeconfig::contexts() const {
  std::vector<KubeconfigContext> out;
  for (const auto& [name, c] : data_->entries.contexts)
    out.push_back({name, c.cluster, c.user, c.namespace_name, c.origin});
  return out;
}

Endpoint Kubeconfig::endpoint(const std::string& context, const CredentialOptions& options) const {
  const KubeconfigEntries& d = data_->entries;
  if (d.files.empty()) throw KubeconfigError(data_->nothing_found);
  std::string files = join(d.files);
  std::string name = context.empty() ? d.current_context : context;
  if (name.empty()) {
    throw KubeconfigError(
        fmt::format("no context selected: current-context is not set in {}; pass --context (contexts: {})", files,
                    names_of(d.contexts)));
  }
  auto ctx_it = d.contexts.find(name);
  if (ctx_it == d.contexts.end()) {
    throw KubeconfigError(
        fmt::format("context \"{}\" not found in {}; contexts: {}", name, files, names_of(d.contexts)));
  }
  const ContextEntry& ctx = ctx_it->second;
  std::string prefix = fmt::format("context \"{}\"", name);

  if (ctx.cluster.empty()) throw KubeconfigError(fmt::format("{} in {} names no cluster", prefix, ctx.origin));
  auto cluster_it = d.clusters.find(ctx.cluster);
  if (cluster_it == d.clusters.end()) {
    throw KubeconfigError(fmt::format("{} in {} names cluster \"{}\", which is not defined in {}; clusters: {}", prefix,
                                      ctx.origin, ctx.cluster, files, names_of(d.clusters)));
  }
  const ClusterEntry& cluster = cluster_it->second;
  std::string cluster_where = fmt::format("{}: cluster \"{}\" in {}", prefix, ctx.cluster, cluster.origin);

  Endpoint endpoint;
  endpoint.context = name;
  endpoint.origin = ctx.origin;
  endpoint.cluster = ctx.cluster;
  if (!ctx.namespace_name.empty()) endpoint.default_namespace = ctx.namespace_name;
  resolve_cluster(cluster, cluster_where, endpoint);

  CredentialSpec spec;
  spec.context = name;
  if (!ctx.user.empty()) {
    auto user_it = d.users.find(ctx.user);
    if (user_it == d.users.end()) {
      throw KubeconfigError(fmt::format("{} in {} names user \"{}\", which is not defined in {}; users: {}", prefix,
                                        ctx.origin, ctx.user, files, names_of(d.users)));
    }
    const UserEntry& user = user_it->second;
    spec = user_credentials(user, fmt::format("{}: user \"{}\" in {}", prefix, ctx.user, user.origin));
    spec.context = name;
    spec.user = ctx.user;
    if (spec.exec && user.exec->provide_cluster_info) spec.exec->cluster_info = exec_cluster_info(endpoint, cluster);
  }
  if (spec.exec) endpoint.exec_plugin = exec_plugin_view(*spec.exec);
  endpoint.credentials = make_credentials(std::move(spec), options);
  return endpoint;
}

std::string describe(const Endpoint& endpoint) {
  std::vector<std::string> parts = {fmt::format("context {}", endpoint.context),
                                    fmt::format("cluster {}", endpoint.cluster)};
  if (!endpoint.ca_pem.empty()) {
    parts.push_back("CA from the kubeconfig");
  } else if (endpoint.insecure_skip_tls_verify) {
    parts.push_back("server certificate NOT verified");
  } else if (endpoint.server.rfind("https://", 0) == 0) {
    parts.push_back("system CAs");
  }
  if (!endpoint.tls_server_name.empty()) parts.push_back("TLS server name " + endpoint.tls_server_name);
  if (!endpoint.proxy_url.empty()) parts.push_back("proxy " + displayable_url(endpoint.proxy_url));
  if (endpoint.credentials) parts.push_back(endpoint.credentials->describe());
  if (endpoint.sim_speed) parts.push_back(fmt::format("refit sim world at {}x", *endpoint.sim_speed));
  return fmt::format("{} ({})", endpoint.server, join(parts));
}

}  // namespace refit::kube
