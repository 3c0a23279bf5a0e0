// Time as a run sees it. In a simulated world it is the virtual clock (advancing runs the world's
// scheduled events and never sleeps); against real clusters it is the wall clock, and advancing
// sleeps until the time comes or something a wait reads changes (its watches deliver an event).
#pragma once
#include <cstdint>

namespace refit::run {

class Timeline {
 public:
  virtual ~Timeline() = default;
  virtual std::int64_t now() const = 0;
  // Lets time pass until `t` (everything scheduled meanwhile happens). Throws when the world fails.
  virtual void advance_to(std::int64_t t) = 0;
  // A ctx:wait begins and ends (they nest). Between the two, a real world serves the predicate's
  // reads from watches, so that a wait costs a list and a watch instead of a request per poll, and
  // advance_to returns as soon as a watched object changes.
  virtual void wait_began() {}
  virtual void wait_ended() {}
};

}  // namespace refit::run
