// The scenario's API faults (api_faults.hpp) applied to one request of `refit sim serve`, where the API
// server's filters would act: after authentication, before the handler touches the world. It waits
// the drawn latency, answers an injected error itself (Status body, Retry-After), and tells a watch
// how long it may stream.
#pragma once
#include <httplib.h>

#include <cstdint>
#include <optional>

#include "serve/api_faults.hpp"

namespace refit::serve {

// The verb and resource of a request, as the API server names them for authorization: GET of a
// collection is "list" ("watch" with ?watch=1), DELETE of one "deletecollection", POST "create"
// (an eviction is "create" of pods/eviction); a non-resource URL (/version, /api, ...) is "get".
RequestInfo request_info(const httplib::Request& request);

struct FaultOutcome {
  bool answered = false;                           // an injected error was written to the response
  std::optional<std::int64_t> watch_lifetime_ms;   // a watch that is to end this long after it starts
};

// Decides for `request`, sleeps the latency, and writes the injected error when there is one.
FaultOutcome apply_faults(ApiFaults& faults, const httplib::Request& request, httplib::Response& response);

}  // namespace refit::serve
