#include "run/lease_timeline.hpp"

#include <algorithm>

namespace refit::run {

void LeaseTimeline::attach(LeaseKeeper* keeper, bool renew) {
  keeper_ = keeper;
  renews_ = keeper != nullptr && renew;
  if (renews_) next_renewal_ = world_.now() + keeper->renew_interval_ms();
}

void LeaseTimeline::advance_to(std::int64_t t) {
  while (renews_ && next_renewal_ <= t) {
    // A command's model may have let time pass already: the renewal is then due now.
    world_.advance_to(next_renewal_);
    keeper_->renew_here();
    next_renewal_ = std::max(next_renewal_, world_.now()) + keeper_->renew_interval_ms();
  }
  world_.advance_to(t);
  if (keeper_ != nullptr) keeper_->emit_pending();
}

}  // namespace refit::run
