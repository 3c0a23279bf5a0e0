#include "cluster/kube/kubeconfig_view.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "cluster/kube/http_client.hpp"

namespace refit::kube {

const char* const kRedactedValue = "[redacted]";

bool looks_like_secret_name(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  static constexpr std::array<std::string_view, 6> kWords = {"secret", "token", "password", "passwd", "key",
                                                             "credential"};
  return std::any_of(kWords.begin(), kWords.end(), [&lower](std::string_view w) { return lower.find(w) != std::string::npos; });
}

ExecPluginView exec_plugin_view(const ExecPluginConfig& config) {
  ExecPluginView view;
  view.command = config.command;
  // Only options name values: a positional word such as aws-iam-authenticator's "token" subcommand
  // says nothing about the word after it.
  bool value_is_secret = false;
  for (const std::string& arg : config.args) {
    if (value_is_secret && arg.rfind('-', 0) != 0) {
      view.args.emplace_back(kRedactedValue);
      value_is_secret = false;
      continue;
    }
    value_is_secret = false;
    if (arg.rfind('-', 0) == 0) {
      auto eq = arg.find('=');
      std::string_view name = std::string_view(arg).substr(0, eq);
      if (looks_like_secret_name(name)) {
        if (eq != std::string::npos) {
          view.args.push_back(arg.substr(0, eq + 1) + kRedactedValue);
          continue;
        }
        value_is_secret = true;
      }
    }
    view.args.push_back(arg);
  }
  for (const auto& [name, value] : config.env) {
    view.env.emplace_back(name, looks_like_secret_name(name) ? std::string(kRedactedValue) : value);
  }
  return view;
}

nlohmann::json kubeconfig_view(const Endpoint& endpoint) {
  nlohmann::json view = {{"context", endpoint.context},
                         {"cluster", endpoint.cluster},
                         {"server", displayable_url(endpoint.server)},  // without user information
                         {"namespace", endpoint.default_namespace}};
  if (endpoint.exec_plugin) {
    nlohmann::json env = nlohmann::json::object();
    for (const auto& [name, value] : endpoint.exec_plugin->env) env[name] = value;
    view["exec"] = {{"command", endpoint.exec_plugin->command}, {"args", endpoint.exec_plugin->args}, {"env", env}};
  }
  return view;
}

}  // namespace refit::kube
