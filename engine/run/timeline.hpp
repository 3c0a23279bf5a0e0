// Time as a run sees it. In a simulated world it is the virtual clock (advancing runs the world's
// scheduled events and never sleeps); against real clusters it will be the wall clock.
#pragma once
#include <cstdint>

namespace refit::run {

class Timeline {
 public:
  virtual ~Timeline() = default;
  virtual std::int64_t now() const = 0;
  // Lets time pass until `t` (everything scheduled meanwhile happens). Throws when the world fails.
  virtual void advance_to(std::int64_t t) = 0;
};

}  // namespace refit::run
