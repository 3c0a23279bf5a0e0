// Turns the API server's refusals (Status bodies) and failed connections into cluster::ApiError
// messages that say what was refused and why, in the simulated cluster's words where it has words for
// it (404 "Deployment kube-system/coredns not found", 409 "... already exists"), so that a playbook reads
// the same failure from both backends. No message holds a credential or a Secret's data.
#pragma once
#include <string>
#include <string_view>

#include "cluster/cluster.hpp"
#include "cluster/kube/http_client.hpp"

namespace refit::kube {

// What a request was about.
struct RequestSubject {
  std::string verb;      // get, list, watch, create, apply, replace, patch, delete, evict, discover
  std::string kind;      // "Deployment"; empty for requests about no kind (discovery, /version)
  std::string ns, name;  // as the object lives (no namespace for cluster-scoped kinds); empty for a list
  std::string resource;  // "deployments.apps", "pods" (plural.group), for permission messages
  std::string target;    // the request's path, when there is no kind
};

// `Deployment kube-system/coredns`, `Node worker-1`, `Pods in namespace default`, `Nodes`.
std::string describe_subject(const RequestSubject& subject);

// The error for a response that is not a success. `where` names the endpoint (HttpClient::where());
// `attempts` > 1 adds how many were made.
cluster::ApiError decode_api_error(const HttpResponse& response, const RequestSubject& subject, const std::string& where,
                                   int attempts = 1);

// The error for a request that got no response.
cluster::ApiError connection_error(const TransportError& error, const RequestSubject& subject, int attempts = 1);

// Replaces the values that the API server quotes in validation messages (`Invalid value: "..."`) with
// ***, for messages about Secrets.
std::string redact_invalid_values(std::string message);

}  // namespace refit::kube
