// refit sim serve FIXTURE | refit sim exec TOOL ARGS...: the simulated world as a Kubernetes API
// server, and its tool models run from outside it.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include "cli/cmd_sim.hpp"
#include "cli/common.hpp"
#include "cluster/sim/sim_runtime.hpp"
#include "run/local_file.hpp"
#include "run/session.hpp"
#include "serve/kubeconfig_writer.hpp"
#include "serve/sim_server.hpp"

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
};

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
    if (chmod(path.c_str(), 0700) != 0) throw std::runtime_error("cannot make " + path + " executable");
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

void print_banner(const ServeCommand& opts, serve::SimServer& server, sim::World& world, const std::string& kubeconfig) {
  std::cout << fmt::format("Serving {} on {} ({})\n", opts.fixture, server.base_url(), speed_text(opts.speed));
  sim::SimCluster* def = world.default_cluster();
  for (const auto& c : world.clusters()) {
    std::cout << fmt::format("  {}  {}  {}{}\n", c->name(), server.cluster_url(c->name()), c->version().git_version,
                             c.get() == def ? "  (current context)" : "");
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

  lua::Vm vm(vm_options(global));
  run::prepare_vm(vm);
  sim::World world(opts.seed);
  sim::SimRuntime runtime(vm, world);
  if (global.verbose) runtime.set_log([](const std::string& message) { std::cerr << "world: " << message << '\n'; });
  try {
    runtime.load(opts.fixture, opts.scenario);
  } catch (const sim::FixtureError& e) {
    print_error(e.what());
    return 1;
  }

  serve::ServeOptions options;
  options.port = opts.port;
  options.speed = opts.speed;
  options.log_requests = global.verbose;
  serve::SimServer server(runtime, options);
  server.start();

  bool own_kubeconfig = opts.kubeconfig_out.empty();
  std::string kubeconfig = own_kubeconfig ? default_kubeconfig_path() : opts.kubeconfig_out;
  std::vector<serve::ServedCluster> clusters;
  for (const auto& c : world.clusters()) clusters.push_back({c->name(), server.cluster_url(c->name())});
  serve::write_kubeconfig(kubeconfig, serve::kubeconfig_document(clusters, world.default_cluster()->name(), opts.speed));
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
  print_banner(opts, server, world, kubeconfig);

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
  sub->callback([&global, &command, opts] {
    command.run = [&global, opts] { return run_serve(global, *opts); };
  });
}

}  // namespace

void add_sim(CLI::App& app, GlobalOptions& global, Command& command) {
  auto* sim = app.add_subcommand("sim", "Serve a simulated world as a Kubernetes API server");
  sim->require_subcommand(1);
  add_serve(*sim, global, command);
  add_sim_exec(*sim, command);
}

}  // namespace refit::cli
