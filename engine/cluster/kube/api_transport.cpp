#include "cluster/kube/api_transport.hpp"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

namespace refit::kube {

RetryClock RetryClock::system() {
  auto engine = std::make_shared<std::minstd_rand>(std::random_device{}());
  return RetryClock{
      [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
      },
      [](std::int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); },
      [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); }};
}

bool may_retry(long status, bool has_retry_after, const SendRules& rules) {
  if (status == 429) return has_retry_after || rules.retry_429_without_retry_after;
  if (status >= 500 && status <= 599) return has_retry_after || rules.idempotent;
  return false;
}

bool may_retry(TransportError::Stage stage, const SendRules& rules) {
  switch (stage) {
    case TransportError::Stage::NotSent: return true;
    case TransportError::Stage::Lost: return rules.idempotent;
    case TransportError::Stage::Fatal: return false;
  }
  return false;
}

std::int64_t retry_delay_ms(const RetryPolicy& policy, int retry, double random,
                            std::optional<std::int64_t> retry_after_ms) {
  if (retry_after_ms) return std::max<std::int64_t>(*retry_after_ms, 0);
  std::int64_t delay = policy.first_delay_ms;
  for (int i = 1; i < retry && delay < policy.max_delay_ms; ++i) delay *= 2;
  delay = std::min(delay, policy.max_delay_ms);
  return delay / 2 + static_cast<std::int64_t>(random * static_cast<double>(delay - delay / 2));
}

Exchange ApiTransport::send(const HttpRequest& request, const SendRules& rules, const RequestSubject& subject) {
  const std::int64_t start = clock_.now_ms();
  Exchange out;
  for (int attempt = 1;; ++attempt) {
    out.attempts = attempt;
    std::optional<std::int64_t> retry_after;
    bool again = false;
    try {
      out.response = http_.perform(request);
      retry_after = out.response.retry_after_ms;
      const long status = out.response.status;
      again = may_retry(status, retry_after.has_value(), rules);
      if (again && status >= 500 && !retry_after) out.earlier_attempt_may_have_acted = true;
    } catch (const TransportError& error) {
      again = may_retry(error.stage, rules) && attempt < policy_.max_attempts;
      std::int64_t delay = retry_delay_ms(policy_, attempt, clock_.random(), std::nullopt);
      if (again && clock_.now_ms() - start + delay > policy_.max_elapsed_ms) again = false;
      if (!again) throw connection_error(error, subject, attempt);
      if (error.stage == TransportError::Stage::Lost) out.earlier_attempt_may_have_acted = true;
      clock_.sleep_ms(delay);
      continue;
    }
    if (!again || attempt >= policy_.max_attempts) return out;
    std::int64_t delay = retry_delay_ms(policy_, attempt, clock_.random(), retry_after);
    if (clock_.now_ms() - start + delay > policy_.max_elapsed_ms) return out;
    clock_.sleep_ms(delay);
  }
}

}  // namespace refit::kube
