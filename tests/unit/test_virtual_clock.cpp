#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "cluster/sim/virtual_clock.hpp"

using refit::sim::VirtualClock;

TEST_CASE("a new clock is at its start time with nothing pending", "[clock]") {
  VirtualClock clock;
  CHECK(clock.now_ms() == 0);
  CHECK(clock.pending() == 0);
  CHECK_FALSE(clock.next_time());
  CHECK_FALSE(clock.run_next());
  CHECK(VirtualClock(5000).now_ms() == 5000);
}

TEST_CASE("events run in time order and move now to their time", "[clock]") {
  VirtualClock clock;
  std::vector<std::string> ran;
  clock.schedule(300, [&] { ran.push_back("c@" + std::to_string(clock.now_ms())); });
  clock.schedule(100, [&] { ran.push_back("a@" + std::to_string(clock.now_ms())); });
  clock.schedule(200, [&] { ran.push_back("b@" + std::to_string(clock.now_ms())); });
  CHECK(clock.pending() == 3);
  CHECK(clock.next_time() == 100);

  CHECK(clock.run_next());
  CHECK(clock.now_ms() == 100);
  CHECK(clock.next_time() == 200);
  while (clock.run_next()) {
  }
  CHECK(ran == std::vector<std::string>{"a@100", "b@200", "c@300"});
  CHECK(clock.now_ms() == 300);
  CHECK(clock.pending() == 0);
}

TEST_CASE("events at the same time run in scheduling order", "[clock]") {
  VirtualClock clock;
  std::vector<int> ran;
  for (int i = 0; i < 5; ++i) clock.schedule(50, [&ran, i] { ran.push_back(i); });
  clock.advance_to(50);
  CHECK(ran == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("an event scheduled in the past runs now", "[clock]") {
  VirtualClock clock;
  clock.advance_to(1000);
  std::int64_t ran_at = -1;
  clock.schedule(10, [&] { ran_at = clock.now_ms(); });
  CHECK(clock.next_time() == 1000);
  CHECK(clock.run_next());
  CHECK(ran_at == 1000);
  CHECK(clock.now_ms() == 1000);
}

TEST_CASE("cancel removes a pending event and ignores unknown ids", "[clock]") {
  VirtualClock clock;
  std::vector<std::string> ran;
  auto a = clock.schedule(10, [&] { ran.push_back("a"); });
  auto b = clock.schedule(20, [&] { ran.push_back("b"); });
  CHECK(a != b);
  clock.cancel(a);
  clock.cancel(a);      // twice
  clock.cancel(12345);  // never existed
  CHECK(clock.pending() == 1);
  CHECK(clock.next_time() == 20);
  clock.advance_to(100);
  CHECK(ran == std::vector<std::string>{"b"});
  clock.cancel(b);  // already ran
  CHECK(clock.pending() == 0);
}

TEST_CASE("a running event may cancel a later one", "[clock]") {
  VirtualClock clock;
  std::vector<std::string> ran;
  VirtualClock::EventId later = 0;
  clock.schedule(10, [&] {
    ran.push_back("first");
    clock.cancel(later);
  });
  later = clock.schedule(10, [&] { ran.push_back("later"); });
  clock.advance_to(10);
  CHECK(ran == std::vector<std::string>{"first"});
}

TEST_CASE("events scheduled by events run in the same advance when due", "[clock]") {
  VirtualClock clock;
  std::vector<std::string> ran;
  clock.schedule(100, [&] {
    ran.push_back("parent@" + std::to_string(clock.now_ms()));
    clock.schedule(clock.now_ms(), [&] { ran.push_back("same-time@" + std::to_string(clock.now_ms())); });
    clock.schedule(clock.now_ms() + 50, [&] { ran.push_back("later@" + std::to_string(clock.now_ms())); });
    clock.schedule(clock.now_ms() + 500, [&] { ran.push_back("too-late"); });
  });
  clock.schedule(100, [&] { ran.push_back("sibling@100"); });
  clock.advance_to(200);
  // The sibling was scheduled before the parent ran, so it comes before the parent's same-time child.
  CHECK(ran == std::vector<std::string>{"parent@100", "sibling@100", "same-time@100", "later@150"});
  CHECK(clock.now_ms() == 200);
  CHECK(clock.pending() == 1);
  CHECK(clock.next_time() == 600);
}

TEST_CASE("advance_to runs events due up to and including t, then sets now", "[clock]") {
  VirtualClock clock;
  std::vector<std::int64_t> ran;
  for (std::int64_t t : {100, 200, 300}) clock.schedule(t, [&, t] { ran.push_back(t); });
  clock.advance_to(200);
  CHECK(ran == std::vector<std::int64_t>{100, 200});
  CHECK(clock.now_ms() == 200);
  clock.advance_to(250);
  CHECK(clock.now_ms() == 250);
  CHECK(ran.size() == 2);
  clock.advance_to(50);  // never goes back
  CHECK(clock.now_ms() == 250);
  clock.advance_to(10'000);
  CHECK(ran == std::vector<std::int64_t>{100, 200, 300});
  CHECK(clock.now_ms() == 10'000);
}

TEST_CASE("pending events are listed in run order with their labels", "[clock]") {
  VirtualClock clock;
  auto b = clock.schedule(20, [] {}, "node n2 ready");
  auto a = clock.schedule(10, [] {}, "node n1 ready");
  auto c = clock.schedule(20, [] {});
  auto events = clock.pending_events();
  REQUIRE(events.size() == 3);
  CHECK(events[0].id == a);
  CHECK(events[0].at_ms == 10);
  CHECK(events[0].label == "node n1 ready");
  CHECK(events[1].id == b);
  CHECK(events[1].label == "node n2 ready");
  CHECK(events[2].id == c);
  CHECK(events[2].label.empty());
}

TEST_CASE("an event that throws is consumed and leaves the clock usable", "[clock]") {
  VirtualClock clock;
  bool second_ran = false;
  clock.schedule(10, [] { throw std::runtime_error("model failed"); });
  clock.schedule(20, [&] { second_ran = true; });
  CHECK_THROWS_WITH(clock.advance_to(30), "model failed");
  CHECK(clock.now_ms() == 10);
  CHECK(clock.pending() == 1);
  clock.advance_to(30);
  CHECK(second_ran);
  CHECK(clock.now_ms() == 30);
}

TEST_CASE("many events keep their order", "[clock]") {
  VirtualClock clock;
  std::int64_t last = -1;
  bool ordered = true;
  for (int i = 0; i < 20'000; ++i) {
    std::int64_t at = (i * 7919) % 10'007;
    clock.schedule(at, [&, at] {
      ordered = ordered && at >= last && clock.now_ms() == at;
      last = at;
    });
  }
  clock.advance_to(20'000);
  CHECK(ordered);
  CHECK(clock.pending() == 0);
}

TEST_CASE("virtual timestamps count from 2026-01-01T00:00:00Z", "[clock]") {
  using refit::sim::virtual_timestamp;
  CHECK(virtual_timestamp(0) == "2026-01-01T00:00:00Z");
  CHECK(virtual_timestamp(999) == "2026-01-01T00:00:00Z");
  CHECK(virtual_timestamp(90'061'000) == "2026-01-02T01:01:01Z");
  CHECK(virtual_timestamp(59LL * 24 * 3600 * 1000) == "2026-03-01T00:00:00Z");
  CHECK(virtual_timestamp(365LL * 24 * 3600 * 1000) == "2027-01-01T00:00:00Z");
  CHECK(virtual_timestamp(-1) == "2025-12-31T23:59:59Z");
}
