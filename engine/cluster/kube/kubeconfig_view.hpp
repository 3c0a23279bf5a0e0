// What a playbook may know of the kubeconfig context a cluster is reached through: the names, the
// server and the exec credential plugin's command line. Product helpers read cloud identities from
// it (refit.eks finds the EKS cluster in `aws eks get-token --cluster-name demo --region eu-west-1`),
// and `refit snapshot` keeps it in the fixture so that a plan from the file finds them too.
//
// Never a credential: tokens, keys and the plugin's output are not part of it, and the values of
// plugin arguments and environment variables whose names look like secrets (`--client-secret X`,
// AWS_SECRET_ACCESS_KEY) are replaced by "[redacted]".
#pragma once
#include <nlohmann/json.hpp>
#include <string_view>

#include "cluster/kube/credentials.hpp"
#include "cluster/kube/endpoint.hpp"

namespace refit::kube {

// The text that stands for a value that looks like a secret.
extern const char* const kRedactedValue;

// Whether an argument or environment variable name says its value is a secret: it mentions a
// secret, token, password, key or credential (case-insensitive).
bool looks_like_secret_name(std::string_view name);

// The plugin's command line with such values replaced: "--name=value" and "--name value" for
// arguments, NAME=value for the environment.
ExecPluginView exec_plugin_view(const ExecPluginConfig& config);

// { context, cluster, server, namespace, exec = { command, args, env = { NAME = value } } } (exec
// only when the user entry has a plugin).
nlohmann::json kubeconfig_view(const Endpoint& endpoint);

}  // namespace refit::kube
