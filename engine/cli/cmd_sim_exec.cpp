// refit sim exec TOOL ARGS...: runs a tool model (aws, eksctl, dkp, kubermatic-installer, ...) inside
// the world `refit sim serve` serves, so that programs outside refit (a playbook run with
// --context, a shell script) can call "the cloud" of a simulated world. The shims that
// `refit sim serve --shims DIR` writes call it. It reaches the world as refit's Kubernetes backend
// does (kube::HttpClient): over HTTPS with the kubeconfig's CA and credentials when the server has them.
#include <iostream>

#include <fmt/format.h>

#include "cli/cmd_sim.hpp"
#include "cluster/kube/http_client.hpp"
#include "cluster/kube/kubeconfig.hpp"

namespace refit::cli {

namespace {

struct SimExecOptions {
  std::string kubeconfig;
  std::string context;
  std::vector<std::string> argv;
};

// The served world's endpoint: a served cluster's server is "<base>/clusters/<name>", and refit's own
// endpoints are under <base>; the context's CA and credentials hold for both.
kube::Endpoint world_endpoint(const SimExecOptions& opts) {
  kube::Endpoint endpoint = kube::Kubeconfig::load(opts.kubeconfig).endpoint(opts.context);
  auto at = endpoint.server.find("/clusters/");
  if (!endpoint.sim_speed || at == std::string::npos) {
    throw std::runtime_error("context " + endpoint.context + " (" + endpoint.server +
                             ") is not a world served by refit sim serve: give the kubeconfig it wrote (--kubeconfig)");
  }
  endpoint.server = endpoint.server.substr(0, at);
  return endpoint;
}

int sim_exec(const SimExecOptions& opts) {
  if (opts.argv.empty()) throw std::runtime_error("refit sim exec TOOL ARGS...: which tool?");
  kube::Endpoint endpoint = world_endpoint(opts);
  std::string base = endpoint.server;
  auto warn = [](const std::string& message) { std::cerr << "refit: warning: " << message << '\n'; };
  kube::HttpOptions http_options;
  http_options.request_timeout_ms = 0;  // a tool may take hours of the world's time
  kube::HttpClient client(std::move(endpoint), warn, http_options);
  nlohmann::json body = {{"argv", opts.argv}};
  kube::HttpResponse result;
  try {
    result = client.perform({"POST", "/refit/v1/exec", "application/json", body.dump()});
  } catch (const kube::TransportError& e) {
    throw std::runtime_error(std::string(e.what()) + ": is refit sim serve still running?");
  }
  nlohmann::json answer = nlohmann::json::parse(result.body, nullptr, false);
  if (result.status != 200 || !answer.is_object() || !answer.contains("code") || !answer["code"].is_number_integer()) {
    std::string why = answer.is_object() && answer.contains("message") && answer["message"].is_string()
                          ? answer["message"].get<std::string>()
                          : result.body;
    throw std::runtime_error(
        fmt::format("the served world at {} refused the command ({}): {}", base, result.status, why));
  }
  std::cout << answer.value("stdout", "");
  std::cerr << answer.value("stderr", "");
  std::cout.flush();
  return answer["code"].get<int>();
}

}  // namespace

void add_sim_exec(CLI::App& sim, Command& command) {
  auto opts = std::make_shared<SimExecOptions>();
  auto* sub = sim.add_subcommand("exec", "run a tool model (aws, eksctl, dkp, ...) inside a served world");
  sub->add_option("--kubeconfig", opts->kubeconfig, "the kubeconfig refit sim serve wrote (else KUBECONFIG)");
  sub->add_option("--context", opts->context, "a context of it (else its current-context)");
  auto tool = std::make_shared<std::string>();
  sub->add_option("TOOL", *tool, "the tool (its arguments follow)")->required();
  // Everything after TOOL is the tool's, flags included.
  sub->prefix_command();
  sub->fallthrough(false);  // the arguments after TOOL are never refit's (main.cpp sets fallthrough)
  sub->callback([&command, opts, sub, tool] {
    opts->argv = {*tool};
    for (const auto& extra : sub->remaining()) opts->argv.push_back(extra);
    command.run = [opts] { return sim_exec(*opts); };
  });
}

}  // namespace refit::cli
