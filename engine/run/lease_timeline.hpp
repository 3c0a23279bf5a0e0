// The world's timeline as a run holding leases sees it. What a renewal thread found (a warning, a lost
// lease) is reported as soon as the run's time moves (a wait's poll, a sleep, a command's end) rather
// than at the run's next call. In a simulated world the leases are renewed here, on the run's own
// virtual time: every quarter of their duration that a wait, a sleep or a command lets pass renews
// them on the way, between the world's advances, so that every lease write is an input of the run
// like any other (a persisted world replays them in the order they were made).
#pragma once
#include <cstdint>

#include "run/lease_keeper.hpp"
#include "run/timeline.hpp"

namespace refit::run {

class LeaseTimeline final : public Timeline {
 public:
  explicit LeaseTimeline(Timeline& world) : world_(world) {}

  // From when the leases are held (null: nothing to report). `renew`: renew them here (a simulated
  // world), every keeper->renew_interval_ms() of this timeline's time.
  void attach(LeaseKeeper* keeper, bool renew);

  std::int64_t now() const override { return world_.now(); }
  void advance_to(std::int64_t t) override;
  void wait_began() override { world_.wait_began(); }
  void wait_ended() override { world_.wait_ended(); }

 private:
  Timeline& world_;
  LeaseKeeper* keeper_ = nullptr;
  bool renews_ = false;
  std::int64_t next_renewal_ = 0;
};

}  // namespace refit::run
