// One Kubernetes API request to a served cluster, resolved to its resource, with the query
// parameters and body decoding every handler shares, and the ways to answer it.
#pragma once
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cluster/sim/sim_cluster.hpp"
#include "serve/api_path.hpp"
#include "serve/resource_catalog.hpp"
#include "serve/served_world.hpp"
#include "serve/status.hpp"

namespace refit::serve {

using Json = nlohmann::json;

struct ApiRequest {
  const httplib::Request& http;
  httplib::Response& response;
  const ApiPath& path;
  ServedWorld& world;
  sim::SimCluster& cluster;
  const ResourceInfo& resource;
  // A watch ends this long after it starts, before its timeout (the scenario's api.watches).
  std::optional<std::int64_t> watch_lifetime_ms;

  // A query parameter; empty when absent.
  std::string query(const char* key) const;
  // A boolean query parameter ("true", "1"); 400 for anything but true/false/1/0.
  bool flag(const char* key) const;
  // dryRun=All; 400 for any other value, as the API server answers.
  bool dry_run() const;
  // The Content-Type's media type, lower case, without parameters.
  std::string media_type() const;
  // The body as JSON (YAML too when the media type says so); 400 when it does not parse.
  Json body() const;
  // The object this request is about, for messages.
  Subject subject(std::string_view name) const;
  Subject subject() const { return subject(path.name); }
  sim::ObjectRef ref(std::string_view name) const;
  sim::ObjectRef ref() const { return ref(path.name); }
};

// Answers `code` with a JSON body (moved in: lists can be large).
void respond_json(httplib::Response& response, int code, std::string body);
void respond_status(httplib::Response& response, const StatusError& error);

// A Go duration as clients send in ?timeout= ("30s", "1m30s", "500ms"); nullopt when it is not one.
std::optional<std::chrono::milliseconds> parse_go_duration(std::string_view text);

// Holds the cluster's store in dry-run mode while alive (dryRun=All).
class DryRunScope {
 public:
  DryRunScope(sim::SimCluster& cluster, bool on);
  ~DryRunScope();
  DryRunScope(const DryRunScope&) = delete;
  DryRunScope& operator=(const DryRunScope&) = delete;

 private:
  sim::SimCluster& cluster_;
  bool on_;
};

// Handlers of the resource endpoints, by verb; each runs under the world's lock and answers through
// `request.response`, throwing StatusError (or cluster::ApiError) for failures.
void handle_get(const ApiRequest& request);
void handle_list(const ApiRequest& request);
void handle_watch(const ApiRequest& request);  // sets a streaming provider that runs after the lock is released
void handle_create(const ApiRequest& request);
void handle_update(const ApiRequest& request);
void handle_patch(const ApiRequest& request);
void handle_delete(const ApiRequest& request);
void handle_delete_collection(const ApiRequest& request);
void handle_status_update(const ApiRequest& request);
void handle_status_patch(const ApiRequest& request);
void handle_eviction(const ApiRequest& request);
void handle_scale_get(const ApiRequest& request);
void handle_scale_update(const ApiRequest& request);
void handle_scale_patch(const ApiRequest& request);

}  // namespace refit::serve
