#include "run/real_world.hpp"

#include <cmath>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include "cluster/kube/kube_world.hpp"
#include "cluster/snapshot.hpp"
#include "cluster/kube/kubeconfig.hpp"
#include "exec/process_executor.hpp"

namespace refit::run {

namespace {

// Real commands, with time counted as the world counts it: against a `refit sim serve` world that
// runs N times faster, a playbook's "timeout = 10m" is 10 of the served world's minutes, so the
// process gets 10m / N of wall-clock time, and its duration is reported in the world's time.
// The speed is read on every command: ctx:connect may add a cluster that changes it.
class WorldTimeExecutor final : public exec::Executor {
 public:
  WorldTimeExecutor(std::unique_ptr<exec::ProcessExecutor> inner, kube::KubeWorld& world)
      : inner_(std::move(inner)), world_(world) {}

  exec::Result run(const exec::Request& request) override {
    exec::Result result = run_in_world_time(request);
    // A vendor CLI that changes the world (an installer, `velero backup create`) may install
    // CustomResourceDefinitions, or create the first object of a kind: what discovery found missing
    // before may be served now.
    if (request.mutates || result.changed) world_.forget_discovery_misses();
    return result;
  }

 private:
  exec::Result run_in_world_time(const exec::Request& request) {
    const double speed = world_.speed();
    if (speed == 1.0) return inner_->run(request);
    exec::Request scaled = request;
    if (scaled.timeout_ms) scaled.timeout_ms = std::max<std::int64_t>(1, std::llround(*scaled.timeout_ms / speed));
    exec::Result result = inner_->run(scaled);
    result.duration_ms = std::llround(result.duration_ms * speed);
    return result;
  }

  std::unique_ptr<exec::ProcessExecutor> inner_;
  kube::KubeWorld& world_;
};

}  // namespace

struct RealWorld::Impl {
  RealWorldOptions options;
  std::unique_ptr<kube::KubeWorld> kube;
  std::unique_ptr<exec::Executor> executor;
  std::vector<std::pair<std::string, cluster::Cluster*>> clusters;
  std::vector<std::string> described;
  std::map<std::string, cluster::Cluster*> by_server;  // targets and ctx:connect's clusters, by server URL

  void warn(const std::string& message) const {
    if (options.warn) options.warn(message);
  }

  // A cluster that does not answer is worth knowing before the run begins, not at its first step.
  static void check_reachable(kube::KubeCluster& c, const std::string& name) {
    try {
      (void)c.version();
    } catch (const std::exception& e) {
      // It answered, but refused (401, 403): the message names the context, the server and the fix.
      auto* refused = dynamic_cast<const cluster::ApiError*>(&e);
      if (refused != nullptr && refused->status != 0) throw std::runtime_error(fmt::format("cluster {}: {}", name, e.what()));
      throw std::runtime_error(fmt::format("cluster {} (context {}, {}) does not answer: {}", name, c.endpoint().context,
                                           c.endpoint().server, e.what()));
    }
  }
};

RealWorld::RealWorld(RealWorldOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& w = *impl_;
  w.options = std::move(options);
  w.kube = std::make_unique<kube::KubeWorld>(
      [this](const std::string& cluster, const std::string& message) { impl_->warn(cluster + ": " + message); });

  std::map<std::string, kube::Kubeconfig> kubeconfigs;  // by --kubeconfig / inventory path
  auto kubeconfig_for = [&](const Target& t) -> const kube::Kubeconfig& {
    std::string path = t.kubeconfig.value_or(w.options.kubeconfig);
    auto it = kubeconfigs.find(path);
    if (it == kubeconfigs.end()) it = kubeconfigs.emplace(path, kube::Kubeconfig::load(path)).first;
    return it->second;
  };
  for (const Target& t : w.options.targets.clusters) {
    kube::Endpoint endpoint = kubeconfig_for(t).endpoint(t.context);
    std::string description = fmt::format("{}: context {} ({})", t.name, endpoint.context, endpoint.server);
    kube::KubeCluster& c = w.kube->add_cluster(t.name, std::move(endpoint));
    Impl::check_reachable(c, t.name);
    w.clusters.emplace_back(t.name, &c);
    w.by_server.emplace(c.endpoint().server, &c);
    w.described.push_back(std::move(description));
  }

  exec::ProcessExecutorOptions exec_options;
  if (w.options.verbose && w.options.output_line) {
    auto out = w.options.output_line;
    exec_options.on_line = [out](exec::OutputStream, std::string_view line) { out(std::string(line)); };
  }
  w.executor = std::make_unique<WorldTimeExecutor>(
      std::make_unique<exec::ProcessExecutor>(w.options.allow_mutating_commands, std::move(exec_options)), *w.kube);
}

RealWorld::~RealWorld() = default;

const std::vector<std::pair<std::string, cluster::Cluster*>>& RealWorld::clusters() const { return impl_->clusters; }
const std::string& RealWorld::default_name() const { return impl_->options.targets.default_name; }
std::vector<std::string> RealWorld::describe() const { return impl_->described; }
Timeline& RealWorld::timeline() { return *impl_->kube; }
exec::Executor& RealWorld::executor() { return *impl_->executor; }

cluster::Cluster* RealWorld::connect(const std::string& kubeconfig_text, const std::string& name) {
  Impl& w = *impl_;
  kube::Endpoint endpoint = kube::Kubeconfig::parse(kubeconfig_text, "the kubeconfig of cluster " + name).endpoint();
  auto known = w.by_server.find(endpoint.server);
  if (known != w.by_server.end()) return known->second;
  // Named after the kubeconfig's cluster entry, as in the simulated world; another cluster of that
  // name (a different server) gets a suffix so both can be told apart in reports.
  std::string unique = name;
  for (int n = 2; w.kube->find(unique) != nullptr; ++n) unique = fmt::format("{}-{}", name, n);
  kube::KubeCluster& c = w.kube->add_cluster(unique, std::move(endpoint));
  Impl::check_reachable(c, unique);
  w.by_server[c.endpoint().server] = &c;
  return &c;
}

nlohmann::json RealWorld::snapshot_cluster(cluster::Cluster& c, bool keep_secret_values,
                                           const std::function<void(const std::string&)>& progress) {
  // Every cluster of this world is reached through the Kubernetes API.
  auto& kube_cluster = static_cast<kube::KubeCluster&>(c);
  cluster::SnapshotOptions options;
  options.keep_secret_values = keep_secret_values;
  if (progress) {
    options.progress = [&progress, &c](const cluster::SnapshotKind& k, std::size_t n) {
      if (n > 0) progress(fmt::format("{}: {} {} ({})", c.name(), n, k.kind, k.api_version));
    };
  }
  return cluster::snapshot_cluster(kube_cluster, kube_cluster.listable_kinds(), options);
}

nlohmann::json RealWorld::snapshot(bool keep_secret_values, const std::function<void(const std::string&)>& progress) {
  nlohmann::json clusters = nlohmann::json::object();
  for (const auto& [name, c] : impl_->clusters) {
    nlohmann::json entry = snapshot_cluster(*c, keep_secret_values, progress);
    // Where it was read from (no credential): a plan from the fixture finds the cloud cluster behind
    // the context as a plan from the live cluster does (refit.eks reads the exec plugin's arguments).
    entry["kubeconfig"] = c->kubeconfig();
    if (name == impl_->options.targets.default_name) entry["default"] = true;
    clusters[name] = std::move(entry);
  }
  return nlohmann::json{{"description", "a snapshot of live clusters, taken by refit snapshot"}, {"clusters", std::move(clusters)}};
}

}  // namespace refit::run
