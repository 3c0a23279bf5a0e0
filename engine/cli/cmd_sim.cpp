// refit sim serve FIXTURE | refit sim exec TOOL ARGS... | refit sim dump: the simulated world as a
// Kubernetes API server, its tool models run from outside it, and a kept world printed.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include "cli/cmd_sim.hpp"
#include "cli/common.hpp"
#include "cli/fixture_world.hpp"
#include "cluster/sim/sim_runtime.hpp"
#include "data/yaml.hpp"
#include "report/duration_text.hpp"
#include "run/local_file.hpp"
#include "run/session.hpp"
#include "serve/api_auth.hpp"
#include "serve/api_faults.hpp"
#include "serve/kubeconfig_writer.hpp"
#include "serve/sim_server.hpp"
#include "serve/tls_certs.hpp"

namespace refit::cli {
namespace {

struct ServeCommand {
  std::string fixture;
  std::optional<std::string> scenario;
  std::uint64_t seed = 1;
  int port = 0;
  double speed = 1.0;
  std::string kubeconfig_out;
  std::string shims;
  bool tls = false;
  bool token_auth = false;
  std::string token_file;
};

// The scenario's `api:` section (docs/scenarios.md), which the world's loader leaves to the server.
// The file has loaded already, so it reads and parses.
std::shared_ptr<serve::ApiFaults> api_faults(const ServeCommand& opts) {
  if (!opts.scenario) return nullptr;
  auto text = lua::Vm::read_user_file(*opts.scenario);
  if (!text) throw std::runtime_error(fmt::format("{}: cannot read the scenario file", *opts.scenario));
  nlohmann::json scenario = data::parse_yaml(*text);
  nlohmann::json api = scenario.is_object() && scenario.contains("api") ? scenario["api"] : nlohmann::json();
  serve::ApiFaultsConfig config = serve::parse_api_faults(api, *opts.scenario);
  if (config.errors.empty() && !config.latency && !config.watches) return nullptr;
  return std::make_shared<serve::ApiFaults>(std::move(config), opts.seed);
}

// HTTPS and who may ask, and what the kubeconfig gives clients to be let in.
struct Access {
  std::optional<serve::ServingCertificates> tls;
  serve::Authentication auth;
  serve::ClientAccess client;
};

Access access_of(const ServeCommand& opts) {
  Access access;
  if (!opts.tls) return access;
  access.tls = serve::generate_serving_certificates();
  access.client.ca_pem = access.tls->ca.cert_pem;
  access.auth.required = true;
  if (opts.token_auth || !opts.token_file.empty()) {
    access.auth.token = opts.token_file.empty() ? serve::random_token() : serve::read_token_file(opts.token_file);
    access.client.token = access.auth.token;
  } else {
    access.auth.client_certificates = true;
    access.client.client_cert_pem = access.tls->client.cert_pem;
    access.client.client_key_pem = access.tls->client.key_pem;
  }
  return access;
}

// With --tls: how clients authenticate (never the credential itself).
std::string access_text(const ServeCommand& opts) {
  std::string how = "the client certificate in the kubeconfig";
  if (!opts.token_file.empty()) {
    how = "the bearer token of " + opts.token_file + " (in the kubeconfig)";
  } else if (opts.token_auth) {
    how = "a bearer token (in the kubeconfig)";
  }
  return "HTTPS with a CA made for this server; clients authenticate with " + how;
}

// A shim per tool model: a program of the tool's name that runs the model inside this world, so a
// playbook applied with --context (PATH=DIR:$PATH) calls "the cloud" of the served world.
void write_shims(const std::string& dir, const std::vector<std::string>& tools, const std::string& kubeconfig) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw std::runtime_error("cannot find refit's own path (/proc/self/exe) for the shims");
  self[n] = '\0';
  auto quoted = [](const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  };
  for (const auto& tool : tools) {
    std::string text = fmt::format("#!/bin/sh\n# Written by refit sim serve: {} runs the served world's model of it.\n"
                                   "exec {} sim exec --kubeconfig {} {} \"$@\"\n",
                                   tool, quoted(self), quoted(kubeconfig), quoted(tool));
    std::string path = dir + "/" + tool;
    run::local_file::write_private(path, text);
    if (chmod(path.c_str(), 0700) != 0) {
      throw std::runtime_error(fmt::format("cannot make {} executable: {}", path, std::strerror(errno)));
    }
  }
}

std::string default_kubeconfig_path() {
  const char* tmp = std::getenv("TMPDIR");
  return fmt::format("{}/refit-sim-serve-{}.kubeconfig", tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", getpid());
}

std::string speed_text(double speed) {
  if (speed == 0) return "the virtual clock stands still (--speed 0): only writes make the world react";
  return fmt::format("the virtual clock runs at {}x the wall clock", speed);
}

void print_banner(const ServeCommand& opts, serve::SimServer& server, sim::World& world, const std::string& kubeconfig,
                  const serve::ApiFaults* faults) {
  std::cout << fmt::format("Serving {} on {} ({})\n", opts.fixture, server.base_url(), speed_text(opts.speed));
  sim::SimCluster* def = world.default_cluster();
  for (const auto& c : world.clusters()) {
    std::cout << fmt::format("  {}  {}  {}{}\n", c->name(), server.cluster_url(c->name()), c->version().git_version,
                             c.get() == def ? "  (current context)" : "");
  }
  if (opts.tls) std::cout << access_text(opts) << '\n';
  if (faults != nullptr) {
    std::cout << fmt::format("API faults from {}: {}\n", *opts.scenario, faults->summary());
    // A client waits a Retry-After out on the wall clock, while the world's clock runs faster.
    if (const int retry_after = faults->longest_retry_after_s(); retry_after > 0 && opts.speed > 1) {
      std::cout << fmt::format("  At --speed {} a Retry-After of {}s is {} of the world's time: a wait with a shorter "
                               "limit may run out while its client waits (docs/sim-serve.md)\n",
                               opts.speed, retry_after,
                               report::duration_text(static_cast<std::int64_t>(retry_after * 1000 * opts.speed)));
    }
  }
  std::cout << fmt::format("Kubeconfig: {}\n  kubectl --kubeconfig {} get nodes\n", kubeconfig, kubeconfig);
  std::cout << "Ctrl-C stops the server." << std::endl;
}

int run_serve(const GlobalOptions& global, const ServeCommand& opts) {
  // Signals are taken by this thread (sigtimedwait below), never by the server's threads: block
  // them before any thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up mid-response is that request's failure only

  FixtureWorld built(global, opts.seed);
  sim::World& world = built.world();
  sim::SimRuntime& runtime = built.runtime();
  if (global.verbose) runtime.set_log([](const std::string& message) { std::cerr << "world: " << message << '\n'; });
  try {
    built.load(opts.fixture, opts.scenario);
  } catch (const run::SetupError& e) {
    print_error(e.what());
    return 1;
  }

  serve::ServeOptions options;
  options.port = opts.port;
  options.speed = opts.speed;
  options.log_requests = global.verbose;
  Access access;
  try {
    options.faults = api_faults(opts);
    access = access_of(opts);
  } catch (const std::exception& e) {  // a scenario's api section, a token file, the certificates
    print_error(e.what());
    return 1;
  }
  options.tls = access.tls;
  options.auth = access.auth;
  options.client_access = access.client;
  serve::SimServer server(runtime, options);
  server.start();

  bool own_kubeconfig = opts.kubeconfig_out.empty();
  std::string kubeconfig = own_kubeconfig ? default_kubeconfig_path() : opts.kubeconfig_out;
  std::vector<serve::ServedCluster> clusters;
  for (const auto& c : world.clusters()) clusters.push_back({c->name(), server.cluster_url(c->name())});
  const std::string& current = world.default_cluster()->name();
  // The shims first: a script that waits for the kubeconfig (the sign that the world is served) then
  // finds them too, rather than the real tools further on its PATH.
  if (!opts.shims.empty()) {
    std::vector<std::string> tools;
    {
      auto lock = server.world().lock();  // the models' registry lives in the Lua VM
      tools = runtime.tool_names();
    }
    try {
      write_shims(opts.shims, tools, kubeconfig);
    } catch (const std::exception& e) {
      server.stop();
      print_error(e.what());
      return 1;
    }
    std::cout << fmt::format("Shims in {}: {}\n  PATH={}:$PATH refit apply PLAYBOOK --kubeconfig {} --context {} --yes\n",
                             opts.shims, fmt::join(tools, ", "), opts.shims, kubeconfig,
                             world.default_cluster()->name());
  }
  serve::write_kubeconfig(kubeconfig, serve::kubeconfig_document(clusters, current, opts.speed, access.client));
  print_banner(opts, server, world, kubeconfig, options.faults.get());

  int code = 0;
  for (;;) {
    timespec slice{0, 200'000'000};
    siginfo_t info;
    if (sigtimedwait(&stop_signals, &info, &slice) > 0) break;
    if (auto failed = server.failure()) {
      print_error(fmt::format("the served world stopped: {}", *failed));
      code = 1;
      break;
    }
  }
  server.stop();
  if (own_kubeconfig) std::remove(kubeconfig.c_str());
  if (options.faults) {
    serve::ApiFaults::Counts counts = options.faults->counts();
    std::cout << fmt::format("API faults: {} of {} requests answered with an injected error; {} of {} watches set to "
                             "end early\n", counts.errors, counts.requests, counts.watches_dropped, counts.watches);
  }
  if (code == 0) std::cout << "Stopped." << std::endl;
  return code;
}

void add_serve(CLI::App& sim, GlobalOptions& global, Command& command) {
  auto opts = std::make_shared<ServeCommand>();
  auto* sub = sim.add_subcommand("serve", "Serve a simulated world as Kubernetes API servers on 127.0.0.1 (one per "
                                          "cluster, under /clusters/<name>), for kubectl and refit --context");
  sub->add_option("FIXTURE", opts->fixture, "world fixture (YAML)")->required();
  sub->add_option("--port", opts->port, "port to listen on; 0 picks a free one (the kubeconfig says which)")
      ->default_val(0)->check(CLI::Range(0, 65535));
  sub->add_option("--scenario", opts->scenario, "fault scenario (YAML) to inject into the world");
  sub->add_option("--seed", opts->seed, "seed of the simulated world's randomness")->default_val(1);
  sub->add_option("--speed", opts->speed, "virtual time per wall-clock time: 600 makes a 10-minute node-group "
                                          "update take one second; 0 stops the clock")
      ->default_val(1.0)->check(CLI::NonNegativeNumber);
  sub->add_option("--kubeconfig-out", opts->kubeconfig_out,
                  "write the clients' kubeconfig here (default: a file in $TMPDIR, removed when the server stops)");
  sub->add_option("--shims", opts->shims,
                  "write a program per tool model (aws, eksctl, dkp, ...) into this directory: each runs the "
                  "model inside the served world (refit sim exec)");
  auto* tls = sub->add_flag("--tls", opts->tls,
                             "serve HTTPS, with a CA made at start; clients authenticate with a client certificate "
                             "(the kubeconfig carries the CA, the certificate and its key)");
  sub->add_flag("--token-auth", opts->token_auth,
                "with --tls: clients authenticate with a random bearer token (in the kubeconfig) instead of a client "
                "certificate")
      ->needs(tls);
  sub->add_option("--token-file", opts->token_file,
                  "with --tls: accept the bearer token in this file (and put it in the kubeconfig), e.g. the one an "
                  "exec credential plugin prints; implies --token-auth")
      ->needs(tls);
  sub->callback([&global, &command, opts] {
    command.run = [&global, opts] { return run_serve(global, *opts); };
  });
}

}  // namespace

void add_sim(CLI::App& app, GlobalOptions& global, Command& command) {
  auto* sim = app.add_subcommand("sim", "Serve a simulated world as a Kubernetes API server, run its tools, print a kept one");
  sim->require_subcommand(1);
  add_serve(*sim, global, command);
  add_sim_exec(*sim, command);
  add_sim_dump(*sim, global, command);
}

}  // namespace refit::cli
