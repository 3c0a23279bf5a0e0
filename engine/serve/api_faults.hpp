// Fault injection for `refit sim serve`: the scenario file's `api:` section makes the served API
// answer some requests with errors (as a real API server's max-in-flight filter answers 429, or an
// overloaded one 500/503/504), delay requests, and end watch streams early (as a real API server ends
// every watch after a while, and connections break). Clients — refit's kube backend, kubectl — must
// retry and re-watch; this is how tests prove they do.
//
//   api:
//     seed: 7                          # optional (default: the world's --seed)
//     errors:
//       rate: 0.1                      # required: the share of matching requests that fail
//       statuses: [429, 500, 503]      # default; each failure picks one at random
//       retry_after: 1s                # Retry-After on 429 and 503 (whole seconds; 0 = none); default 1s
//       verbs: [get, list, create]     # default: every verb
//       resources: [pods, pods/eviction]   # default: every resource (and the non-resource URLs)
//     # or a list of such rules, each with its own rate and filters: the first that fires decides
//     #   errors: [{ rate: 0.05, statuses: [429, 503] }, { rate: 0.05, statuses: [500], verbs: [get, list] }]
//     latency: { min: 5ms, max: 50ms } # or one duration: `latency: 20ms`
//     watches:
//       rate: 1                        # the share of watches dropped; default 1
//       after: { min: 5s, max: 30s }   # required: when a dropped watch ends (or one duration)
//
// An injected error is decided before the request is processed: the world does not change, as with
// the real filter. Decisions are deterministic for a seed and a sequence of requests; the object is
// thread-safe (the server is threaded). Durations are wall-clock time.
#pragma once
#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace refit::serve {

// A scenario's `api:` section that cannot be used; the message is "<file>: api.<field>: <what is
// wrong>", worded as the other scenario mistakes are (docs/scenarios.md).
struct ApiFaultsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Milliseconds, drawn uniformly from [min_ms, max_ms].
struct DurationRange {
  std::int64_t min_ms = 0;
  std::int64_t max_ms = 0;
};

struct ApiFaultsConfig {
  struct Errors {
    double rate = 0;
    std::vector<int> statuses{429, 500, 503};
    int retry_after_s = 1;
    std::vector<std::string> verbs;      // empty: every verb
    std::vector<std::string> resources;  // "pods", "pods/eviction"; empty: every request
  };
  struct Watches {
    double rate = 1;
    DurationRange after;
  };
  std::optional<std::uint64_t> seed;
  std::vector<Errors> errors;  // the rules, in order; empty: none
  std::optional<DurationRange> latency;
  std::optional<Watches> watches;
};

// The statuses an injected error may have: those a client is expected to retry (some only when the
// request is idempotent).
inline const std::vector<int> kInjectableStatuses{429, 500, 503, 504};
// Kubernetes API verbs, as the API server names them for authorization.
inline const std::vector<std::string> kApiVerbs{"create", "delete", "deletecollection", "get",
                                                "list",   "patch",  "update",           "watch"};

// Reads the scenario's `api` value (null: no faults). `file` names the scenario in errors.
ApiFaultsConfig parse_api_faults(const nlohmann::json& api, const std::string& file);

// What the server knows of a request when it decides.
struct RequestInfo {
  std::string verb;         // one of kApiVerbs ("get" for a non-resource URL such as /version)
  std::string resource;     // "pods"; empty for a non-resource URL (/api, /apis, /version)
  std::string subresource;  // "status", "eviction", or empty
};

struct Decision {
  std::int64_t latency_ms = 0;  // wait this long before anything else
  int status = 0;               // 0: serve the request; else answer this status without processing it
  int retry_after_s = 0;        // > 0: send "Retry-After: <n>"
};

class ApiFaults {
 public:
  // `default_seed` is used when the config names none (the world's --seed).
  ApiFaults(ApiFaultsConfig config, std::uint64_t default_seed);

  Decision decide(const RequestInfo& request);
  // For a watch about to stream: when to end it (milliseconds after it starts), or none.
  std::optional<std::int64_t> watch_lifetime();

  // "errors 10% (429, 500, 503; Retry-After 1s) on get, list of pods; latency 5ms-50ms; ...", for
  // the server's start-up message; "none" without faults.
  std::string summary() const;
  // The longest Retry-After an injected error may carry, in seconds (0: none does).
  int longest_retry_after_s() const;

  struct Counts {
    std::uint64_t requests = 0;  // decisions made
    std::uint64_t errors = 0;    // requests answered with an injected error
    std::uint64_t watches = 0;   // watch lifetimes asked for
    std::uint64_t watches_dropped = 0;
  };
  Counts counts() const;

 private:
  ApiFaultsConfig config_;
  std::uint64_t seed_;
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> watches_{0};
  std::atomic<std::uint64_t> watches_dropped_{0};
};

// The body of an injected error: a metav1 Status as the API server writes it ("TooManyRequests",
// "InternalError", "ServiceUnavailable", "Timeout"), with details.retryAfterSeconds when the decision
// has a Retry-After. The message says the error was injected by the scenario.
nlohmann::json injected_status(const Decision& decision, const RequestInfo& request);

}  // namespace refit::serve
