// Sends a Kubernetes API request and repeats it when that is safe: exponential backoff with jitter,
// bounded in attempts and in time, honouring Retry-After. A request is repeated only when the server
// cannot have acted on it, or when acting on it twice changes nothing (idempotent requests), so a
// create is never made twice.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>

#include "cluster/kube/api_errors.hpp"
#include "cluster/kube/http_client.hpp"

namespace refit::kube {

struct RetryPolicy {
  int max_attempts = 6;                  // the first attempt included
  std::int64_t first_delay_ms = 250;     // doubles with each retry, up to max_delay_ms
  std::int64_t max_delay_ms = 8'000;
  std::int64_t max_elapsed_ms = 60'000;  // no retry starts later than this after the first attempt
};

// Time as retries see it: the wall clock, or a test's.
struct RetryClock {
  std::function<std::int64_t()> now_ms;
  std::function<void(std::int64_t)> sleep_ms;
  std::function<double()> random;  // uniform in [0, 1): the jitter
  static RetryClock system();
};

struct SendRules {
  // GET, DELETE, PUT with a resourceVersion, merge, strategic and apply patches: sending one twice
  // leaves the same result as sending it once. Not a POST (create, eviction) nor a JSON patch.
  bool idempotent = false;
  // An eviction's 429 without Retry-After is a PodDisruptionBudget's answer, which the caller (a drain)
  // decides about; a 429 with Retry-After is the server's throttling and is waited out.
  bool retry_429_without_retry_after = true;
};

// Whether an attempt that got `status` may be repeated: a 429, or a 5xx with Retry-After, says that the
// server did not process the request (any request); a 5xx without it may come after processing
// (idempotent requests only). Other statuses are answers.
bool may_retry(long status, bool has_retry_after, const SendRules& rules);

// Whether an attempt that got no response may be repeated: a connection that could not be made (any
// request); one lost mid-request (idempotent requests only); a configuration problem (never).
bool may_retry(TransportError::Stage stage, const SendRules& rules);

// The pause before retry number `retry` (1 for the first): Retry-After when the server gave it, else
// first_delay_ms doubled per retry up to max_delay_ms, of which a random half is jitter (so that many
// clients refused at once do not return at once).
std::int64_t retry_delay_ms(const RetryPolicy& policy, int retry, double random, std::optional<std::int64_t> retry_after_ms);

struct Exchange {
  HttpResponse response;
  int attempts = 1;
  // An earlier attempt may have been processed before it failed (a lost connection, a 5xx): a DELETE
  // answered 404 now may have deleted the object then.
  bool earlier_attempt_may_have_acted = false;
};

class ApiTransport {
 public:
  ApiTransport(HttpClient& http, RetryPolicy policy, RetryClock clock)
      : http_(http), policy_(policy), clock_(std::move(clock)) {}

  // Sends `request` until an answer is not to be retried or the policy runs out, and returns the last
  // response whatever its status (the caller decodes failures with decode_api_error). Throws
  // cluster::ApiError (status 0) when the last attempt got no response.
  Exchange send(const HttpRequest& request, const SendRules& rules, const RequestSubject& subject);

  HttpClient& http() { return http_; }
  const RetryPolicy& policy() const { return policy_; }
  RetryClock& clock() { return clock_; }

 private:
  HttpClient& http_;
  RetryPolicy policy_;
  RetryClock clock_;
};

}  // namespace refit::kube
