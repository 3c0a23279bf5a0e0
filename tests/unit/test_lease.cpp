// Leases (engine/run/lease*.hpp, unlock.hpp) over a simulated cluster: taking, renewing, releasing and
// unlocking, and what the server's optimistic concurrency makes of a writer in between.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "cluster/forwarding_cluster.hpp"
#include "cluster/sim/sim_cluster.hpp"
#include "cluster/sim/virtual_clock.hpp"
#include "run/lease.hpp"
#include "run/lease_keeper.hpp"
#include "run/lease_timeline.hpp"
#include "run/timeline.hpp"
#include "run/journal.hpp"
#include "run/unlock.hpp"
#include "run/utc_time.hpp"

using refit::cluster::ApiError;
using refit::cluster::Json;
using namespace refit::run;

namespace {

// 2026-01-01T00:00:00Z, the simulated epoch.
const std::int64_t kEpoch = refit::sim::virtual_epoch_unix_ms();

LeaseOptions options_of(const std::string& run_id, std::int64_t duration_s = 120) {
  return LeaseOptions{run_id, "host-a", "eks/upgrade", duration_s};
}

Json stored_lease(refit::sim::SimCluster& c) {
  Json out;
  c.get(lease_ref("eks/upgrade"), [&out](const Json& o) { out = o; });
  return out;
}

// A cluster whose next `replace` answers 409 Conflict after another writer changed the object, as an
// API server does when a write comes between a read and an update.
class InterleavedCluster final : public refit::cluster::ForwardingCluster {
 public:
  using ForwardingCluster::ForwardingCluster;
  std::function<void()> before_next_replace;
  bool unreachable = false;  // every read fails as when no response comes
  bool get(const refit::cluster::ObjectRef& r, const std::function<void(const Json&)>& v) override {
    if (unreachable) throw ApiError(0, "", "GET https://demo:6443/...: Connection refused");
    return ForwardingCluster::get(r, v);
  }
  void replace(Json o, const StoredVisitor& s) override {
    if (before_next_replace) std::exchange(before_next_replace, nullptr)();
    ForwardingCluster::replace(std::move(o), s);
  }
};

}  // namespace

TEST_CASE("a Lease is named after the playbook, lowercased, with what a name may not hold made -", "[lease]") {
  CHECK(lease_name("eks/upgrade") == "refit-eks-upgrade");
  CHECK(lease_name("My_Team/Restart CoreDNS.v2") == "refit-my-team-restart-coredns-v2");
  CHECK(lease_name("trailing/") == "refit-trailing");
  CHECK(lease_name(std::string(300, 'a')).size() == 253);
}

TEST_CASE("Lease times are RFC 3339 in UTC, MicroTime with six digits", "[lease]") {
  CHECK(utc_micro_text(kEpoch + 150'250) == "2026-01-01T00:02:30.250000Z");
  CHECK(utc_seconds_text(kEpoch + 150'250) == "2026-01-01T00:02:30Z");
  CHECK(utc_compact_text(kEpoch + 3'723'000) == "20260101-010203");
  CHECK(parse_utc_time("2026-01-01T00:02:30.250000Z") == kEpoch + 150'250);
  CHECK(parse_utc_time("2026-01-01T00:02:30Z") == kEpoch + 150'000);
  CHECK(parse_utc_time("2026-01-01T01:02:30.5+01:00") == kEpoch + 150'500);
  CHECK(parse_utc_time("2025-12-31T23:00:00-01:00") == kEpoch);
  CHECK_FALSE(parse_utc_time("2026-01-01"));
  CHECK_FALSE(parse_utc_time("2026-02-30T00:00:00Z"));
  CHECK_FALSE(parse_utc_time("yesterday"));
}

TEST_CASE("run ids are the UTC start time and six hex digits", "[lease]") {
  using refit::run::journal::looks_like_run_id;
  using refit::run::journal::new_run_id;
  std::string id = new_run_id();
  CHECK(id.size() == 22);
  CHECK(looks_like_run_id(id));
  CHECK(new_run_id() != id);  // the random part: a clash has a chance of one in 16 million
  CHECK(looks_like_run_id("20261121"));
  CHECK(looks_like_run_id("20261121-10"));
  CHECK(looks_like_run_id("20261121-101502-3f"));
  CHECK_FALSE(looks_like_run_id("eks/upgrade"));
  CHECK_FALSE(looks_like_run_id("2026"));
  CHECK_FALSE(looks_like_run_id("20261121-101502-3fa9c1x"));
}

TEST_CASE("taking a Lease: created, taken again, held by a live run, taken over once expired", "[lease]") {
  refit::sim::SimCluster c("demo", "v1.21.5", [] { return 0; });
  LeaseOptions mine = options_of("20260101-000000-aaaaaa");

  TakeResult first = try_take(c, mine, kEpoch);
  CHECK(first.kind == TakeResult::Kind::Created);
  Json lease = stored_lease(c);
  CHECK(lease["spec"] == Json::parse(R"({"holderIdentity": "20260101-000000-aaaaaa", "leaseDurationSeconds": 120,
      "acquireTime": "2026-01-01T00:00:00.000000Z", "renewTime": "2026-01-01T00:00:00.000000Z",
      "leaseTransitions": 0})"));
  CHECK(lease["metadata"]["annotations"] == Json::parse(R"({"refit.dev/host": "host-a",
      "refit.dev/playbook": "eks/upgrade", "refit.dev/started": "2026-01-01T00:00:00Z"})"));
  CHECK(lease["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "refit");

  // The same run (resumed): taken again, keeping when it was first taken.
  TakeResult again = try_take(c, mine, kEpoch + 60'000);
  CHECK(again.kind == TakeResult::Kind::TakenAgain);
  lease = stored_lease(c);
  CHECK(lease["spec"]["acquireTime"] == "2026-01-01T00:00:00.000000Z");
  CHECK(lease["spec"]["renewTime"] == "2026-01-01T00:01:00.000000Z");
  CHECK(lease["spec"]["leaseTransitions"] == 0);

  // Another run while it lives (renewed at 60 s, lasting 120 s): held, nothing written.
  LeaseOptions other = options_of("20260101-000100-bbbbbb");
  other.host = "host-b";
  std::string version = lease["metadata"]["resourceVersion"];
  TakeResult held = try_take(c, other, kEpoch + 179'999);
  CHECK(held.kind == TakeResult::Kind::Held);
  REQUIRE(held.previous);
  CHECK(held.previous->holder == "20260101-000000-aaaaaa");
  CHECK(held.previous->host == "host-a");
  CHECK(held.previous->expires_ms() == kEpoch + 180'000);
  CHECK(held.previous->holder_text() == "run 20260101-000000-aaaaaa on host host-a");
  CHECK(held.previous->times_text(kEpoch + 179'999) ==
        "since 2026-01-01T00:00:00Z, last renewed 2026-01-01T00:01:00Z, expires 2026-01-01T00:03:00Z");
  CHECK(stored_lease(c)["metadata"]["resourceVersion"] == version);

  // Once it expired: taken over, one transition more.
  TakeResult over = try_take(c, other, kEpoch + 180'000);
  CHECK(over.kind == TakeResult::Kind::TakenOver);
  CHECK(over.previous->times_text(kEpoch + 180'000) ==
        "since 2026-01-01T00:00:00Z, last renewed 2026-01-01T00:01:00Z, expired 2026-01-01T00:03:00Z");
  lease = stored_lease(c);
  CHECK(lease["spec"]["holderIdentity"] == "20260101-000100-bbbbbb");
  CHECK(lease["spec"]["acquireTime"] == "2026-01-01T00:03:00.000000Z");
  CHECK(lease["spec"]["leaseTransitions"] == 1);
  CHECK(lease["metadata"]["annotations"]["refit.dev/host"] == "host-b");
  CHECK(lease["metadata"]["annotations"]["refit.dev/started"] == "2026-01-01T00:03:00Z");
}

TEST_CASE("a Lease nobody holds is free; one that says no times has expired", "[lease]") {
  refit::sim::SimCluster c("demo", "v1.21.5", [] { return 0; });
  c.create(Json::parse(R"({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
      "metadata": {"name": "refit-eks-upgrade", "namespace": "kube-system"}, "spec": {"leaseTransitions": 7}})"),
           [](const Json&) {});
  CHECK(try_take(c, options_of("20260101-000000-aaaaaa"), kEpoch).kind == TakeResult::Kind::Free);
  CHECK(stored_lease(c)["spec"]["leaseTransitions"] == 8);

  c.merge_patch(lease_ref("eks/upgrade"), Json::parse(R"({"metadata": {"annotations": null},
      "spec": {"holderIdentity": "by-hand", "renewTime": null, "acquireTime": null}})"), [](const Json&) {});
  TakeResult over = try_take(c, options_of("20260101-000000-aaaaaa"), kEpoch);
  CHECK(over.kind == TakeResult::Kind::TakenOver);
  CHECK(over.previous->holder_text() == "run by-hand");
  CHECK(over.previous->times_text(kEpoch) == "since (not recorded), last renewed (not recorded), expired");
}

TEST_CASE("a writer between the read and the update makes the take read again", "[lease]") {
  refit::sim::SimCluster sim("demo", "v1.21.5", [] { return 0; });
  InterleavedCluster c(sim);
  LeaseOptions old = options_of("20251231-000000-dead00");
  REQUIRE(try_take(sim, old, kEpoch - 3'600'000).kind == TakeResult::Kind::Created);

  SECTION("the other writer renewed it: it is live, and held") {
    c.before_next_replace = [&] { REQUIRE(renew(sim, old, kEpoch).kind == RenewResult::Kind::Renewed); };
    TakeResult r = try_take(c, options_of("20260101-000000-aaaaaa"), kEpoch);
    CHECK(r.kind == TakeResult::Kind::Held);
    CHECK(stored_lease(sim)["spec"]["holderIdentity"] == "20251231-000000-dead00");
  }
  SECTION("the other writer took it over first: it is live again, and held by that writer") {
    LeaseOptions third = options_of("20260101-000000-cccccc");
    c.before_next_replace = [&] { REQUIRE(try_take(sim, third, kEpoch).kind == TakeResult::Kind::TakenOver); };
    TakeResult r = try_take(c, options_of("20260101-000000-aaaaaa"), kEpoch);
    CHECK(r.kind == TakeResult::Kind::Held);
    CHECK(r.previous->holder == "20260101-000000-cccccc");
  }
  SECTION("the other writer deleted it: created anew") {
    c.before_next_replace = [&] { REQUIRE(remove_lease(sim, "eks/upgrade")); };
    TakeResult r = try_take(c, options_of("20260101-000000-aaaaaa"), kEpoch);
    CHECK(r.kind == TakeResult::Kind::Created);
    CHECK(stored_lease(sim)["spec"]["leaseTransitions"] == 0);
  }
}

TEST_CASE("renewing and releasing touch only this run's Lease", "[lease]") {
  refit::sim::SimCluster c("demo", "v1.21.5", [] { return 0; });
  LeaseOptions mine = options_of("20260101-000000-aaaaaa");
  REQUIRE(try_take(c, mine, kEpoch).kind == TakeResult::Kind::Created);
  CHECK(renew(c, mine, kEpoch + 30'000).kind == RenewResult::Kind::Renewed);
  CHECK(stored_lease(c)["spec"]["renewTime"] == "2026-01-01T00:00:30.000000Z");

  LeaseOptions other = options_of("20260101-000300-bbbbbb");
  REQUIRE(try_take(c, other, kEpoch + 151'000).kind == TakeResult::Kind::TakenOver);
  RenewResult lost = renew(c, mine, kEpoch + 152'000);
  CHECK(lost.kind == RenewResult::Kind::TakenByOther);
  CHECK(lost.found->holder == "20260101-000300-bbbbbb");
  CHECK(stored_lease(c)["spec"]["renewTime"] == "2026-01-01T00:02:31.000000Z");
  std::optional<LeaseState> left = release(c, mine);
  REQUIRE(left);
  CHECK(left->holder == "20260101-000300-bbbbbb");
  CHECK(stored_lease(c)["spec"]["holderIdentity"] == "20260101-000300-bbbbbb");

  CHECK_FALSE(release(c, other));
  CHECK(stored_lease(c).is_null());
  CHECK(renew(c, other, kEpoch).kind == RenewResult::Kind::Removed);
}

// A timeline that only counts the time it is told to advance to.
class CountingTimeline final : public Timeline {
 public:
  std::int64_t now() const override { return now_; }
  void advance_to(std::int64_t t) override { now_ = t; }

 private:
  std::int64_t now_ = 0;
};

// The virtual clock as a run's timeline.
class ClockTimeline final : public Timeline {
 public:
  explicit ClockTimeline(refit::sim::VirtualClock& clock) : clock_(clock) {}
  std::int64_t now() const override { return clock_.now_ms(); }
  void advance_to(std::int64_t t) override { clock_.advance_to(t); }

 private:
  refit::sim::VirtualClock& clock_;
};

TEST_CASE("a keeper takes every target or none, and renews on the run's virtual time", "[lease]") {
  refit::sim::VirtualClock clock;
  auto now = [&clock] { return clock.now_ms(); };
  refit::sim::SimCluster a("a", "v1.21.5", now), b("b", "v1.21.5", now);
  EventBus bus(now);
  EventRecorder events;
  bus.add_sink(&events);
  auto names = [&events] {
    std::string out;
    for (const auto& e : events.events) out += e.name + (e.fields.contains("cluster") ? ":" + e.fields["cluster"].get<std::string>() : "") + " ";
    events.events.clear();
    return out;
  };
  LeaseClock lease_clock = [&clock] { return kEpoch + clock.now_ms(); };

  SECTION("a live lease in the second target: the first one's is released again") {
    REQUIRE(try_take(b, options_of("20251231-235959-bbbbbb"), kEpoch).kind == TakeResult::Kind::Created);
    LeaseKeeper keeper(bus, options_of("20260101-000000-aaaaaa"), {{"a", &a}, {"b", &b}}, lease_clock,
                       force_unlock_command("eks/upgrade", real_unlock_arguments("inv.yaml", "", "")));
    std::optional<std::string> refusal = keeper.acquire();
    REQUIRE(refusal);
    CHECK(*refusal == "cluster b is locked by another run of eks/upgrade: run 20251231-235959-bbbbbb on host host-a "
                      "holds the Lease kube-system/refit-eks-upgrade (since 2026-01-01T00:00:00Z, last renewed "
                      "2026-01-01T00:00:00Z, expires 2026-01-01T00:02:00Z). Let that run finish; if it died, refit "
                      "takes the lease over once it expires, or remove it now: refit unlock eks/upgrade --inventory "
                      "inv.yaml --force");
    CHECK(names() == "lease_acquired:a lease_released:a ");
    CHECK(stored_lease(a).is_null());
    CHECK(stored_lease(b)["spec"]["holderIdentity"] == "20251231-235959-bbbbbb");
  }

  SECTION("renewals every quarter of the duration as the run's time passes, until released") {
    ClockTimeline world(clock);
    LeaseTimeline timeline(world);
    LeaseKeeper keeper(bus, options_of("20260101-000000-aaaaaa", 60), {{"a", &a}, {"b", &b}}, lease_clock, "");
    REQUIRE_FALSE(keeper.acquire());
    timeline.attach(&keeper, true);
    // The world's own events at a renewal time happen before the renewal.
    std::string seen_at_30s;
    clock.schedule(30'000, [&] { seen_at_30s = stored_lease(a)["spec"]["renewTime"]; });
    timeline.advance_to(44'999);
    CHECK(seen_at_30s == "2026-01-01T00:00:15.000000Z");
    CHECK(stored_lease(a)["spec"]["renewTime"] == "2026-01-01T00:00:30.000000Z");
    CHECK(stored_lease(b)["spec"]["renewTime"] == "2026-01-01T00:00:30.000000Z");
    timeline.advance_to(45'000);
    CHECK(stored_lease(b)["spec"]["renewTime"] == "2026-01-01T00:00:45.000000Z");
    // Time a command's model let pass without the timeline: renewed once, when the run's time moves.
    clock.advance_to(600'000);
    timeline.advance_to(601'000);
    CHECK(stored_lease(a)["spec"]["renewTime"] == "2026-01-01T00:10:00.000000Z");
    timeline.advance_to(614'999);
    CHECK(stored_lease(a)["spec"]["renewTime"] == "2026-01-01T00:10:00.000000Z");
    timeline.advance_to(615'000);
    CHECK(stored_lease(a)["spec"]["renewTime"] == "2026-01-01T00:10:15.000000Z");
    CHECK_FALSE(keeper.lost_reason());
    CHECK(names() == "lease_acquired:a lease_acquired:b ");
    keeper.release();
    CHECK(names() == "lease_released:a lease_released:b ");
    CHECK(stored_lease(a).is_null());
  }

  SECTION("a renewal that finds the lease removed makes the run stop, once") {
    ClockTimeline world(clock);
    LeaseTimeline timeline(world);
    LeaseKeeper keeper(bus, options_of("20260101-000000-aaaaaa"), {{"a", &a}}, lease_clock, "");
    REQUIRE_FALSE(keeper.acquire());
    timeline.attach(&keeper, true);
    REQUIRE(remove_lease(a, "eks/upgrade"));
    timeline.advance_to(30'000);
    CHECK(names() == "lease_acquired:a lease_lost:a ");
    std::optional<std::string> reason = keeper.lost_reason();
    REQUIRE(reason);
    CHECK(*reason == "cluster a: the Lease kube-system/refit-eks-upgrade that keeps other runs out was removed "
                     "(refit unlock --force, or by hand), so this run no longer holds the cluster");
    timeline.advance_to(120'000);
    CHECK(keeper.lost_reason() == reason);
    keeper.release();
    CHECK(names() == "");
    CHECK(stored_lease(a).is_null());
  }
}

TEST_CASE("a lease the run cannot release is left to expire, and the user hears how to remove it", "[lease]") {
  refit::sim::SimCluster sim("demo", "v1.21.5", [] { return 0; });
  InterleavedCluster cut_off(sim);
  EventBus bus([] { return 0; });
  EventRecorder events;
  bus.add_sink(&events);
  LeaseKeeper keeper(bus, options_of("20260101-000000-aaaaaa"), {{"demo", &cut_off}}, [] { return kEpoch; },
                     force_unlock_command("eks/upgrade", real_unlock_arguments(std::nullopt, "prod", "/tmp/kc")));
  REQUIRE_FALSE(keeper.acquire());
  cut_off.unreachable = true;
  keeper.release();
  std::vector<std::string> warnings;
  for (const auto& e : events.events) {
    if (e.name == "log") warnings.push_back(e.fields["message"].get<std::string>());
  }
  CHECK(warnings == std::vector<std::string>{
                        "cluster demo: could not release the Lease kube-system/refit-eks-upgrade: GET "
                        "https://demo:6443/...: Connection refused; it expires 120 s after its last renewal, or remove "
                        "it: refit unlock eks/upgrade --context prod --kubeconfig /tmp/kc --force"});
  CHECK(stored_lease(sim)["spec"]["holderIdentity"] == "20260101-000000-aaaaaa");
}

TEST_CASE("what a renewal thread found is reported as soon as the run's time moves", "[lease]") {
  refit::sim::SimCluster sim("demo", "v1.21.5", [] { return 0; });
  InterleavedCluster other_connection(sim);
  CountingTimeline world;
  LeaseTimeline timeline(world);
  EventBus bus([&timeline] { return timeline.now(); });
  EventRecorder events;
  bus.add_sink(&events);
  LeaseKeeper keeper(bus, options_of("20260101-000000-aaaaaa"), {{"demo", &sim}}, [] { return kEpoch; }, "");
  REQUIRE_FALSE(keeper.acquire());
  timeline.attach(&keeper, false);
  events.events.clear();

  other_connection.unreachable = true;
  keeper.renew({&other_connection});  // as the renewal thread does: nothing is emitted from there
  CHECK(events.events.empty());
  timeline.advance_to(1'000);
  REQUIRE(events.events.size() == 1);
  CHECK(events.events[0].name == "log");
  CHECK(events.events[0].fields["level"] == "warn");
  CHECK(events.events[0].fields["message"] ==
        "cluster demo: could not renew the Lease kube-system/refit-eks-upgrade: GET https://demo:6443/...: Connection "
        "refused; refit tries again in 30 s (the lease lasts 120 s from its last renewal)");
  CHECK(events.events[0].time == 1'000);
  CHECK_FALSE(keeper.lost_reason());  // a renewal that could not be made is not a lease lost

  other_connection.unreachable = false;
  REQUIRE(try_take(sim, options_of("20260101-000100-bbbbbb"), kEpoch + 200'000).kind == TakeResult::Kind::TakenOver);
  keeper.renew({&other_connection});
  timeline.advance_to(2'000);
  REQUIRE(events.events.size() == 2);
  CHECK(events.events[1].name == "lease_lost");
  CHECK(events.events[1].fields["taken_by"] == "20260101-000100-bbbbbb");
  CHECK(keeper.lost_reason());
}

TEST_CASE("refit unlock removes expired leases, and live ones only when forced", "[lease]") {
  refit::sim::SimCluster a("a", "v1.21.5", [] { return 0; }), b("b", "v1.21.5", [] { return 0; });
  NamedClusters both = {{"a", &a}, {"b", &b}};
  REQUIRE(try_take(a, options_of("20260101-000000-aaaaaa"), kEpoch).kind == TakeResult::Kind::Created);
  REQUIRE(try_take(b, options_of("20260101-000000-aaaaaa"), kEpoch + 100'000).kind == TakeResult::Kind::Created);
  UnlockRequest request{"eks/upgrade", false, std::nullopt, "refit unlock eks/upgrade --inventory inv.yaml --force"};

  // At 3m: a's lease expired at 2m, b's lives until 3m40s: nothing is removed.
  UnlockReport refused = unlock_leases(both, request, kEpoch + 180'000);
  CHECK(refused.exit_code == 2);
  CHECK(refused.lines == std::vector<std::string>{
      "cluster b: the Lease kube-system/refit-eks-upgrade is held by run 20260101-000000-aaaaaa on host host-a (since "
      "2026-01-01T00:01:40Z, last renewed 2026-01-01T00:01:40Z, expires 2026-01-01T00:03:40Z): that run is alive, or "
      "stopped less than 2m00s ago. Let it finish; if it is dead, wait until 2026-01-01T00:03:40Z (a new run then takes "
      "the lease over by itself) or remove it now: refit unlock eks/upgrade --inventory inv.yaml --force",
      "Nothing was removed."});
  CHECK_FALSE(stored_lease(a).is_null());

  // The RUN form leaves another run's lease alone.
  UnlockRequest of_run = request;
  of_run.force = true;
  of_run.run_id = "20260101-000000-ffffff";
  UnlockReport not_its = unlock_leases({{"a", &a}}, of_run, kEpoch + 180'000);
  CHECK(not_its.exit_code == 2);
  CHECK(not_its.lines.front().find("is held by run 20260101-000000-aaaaaa on host host-a (") != std::string::npos);
  CHECK(not_its.lines.front().find("), not by run 20260101-000000-ffffff: left alone. If that run is dead too: "
                                   "refit unlock eks/upgrade --inventory inv.yaml --force") != std::string::npos);

  // Once both expired, they go without --force.
  UnlockReport removed = unlock_leases(both, request, kEpoch + 220'000);
  CHECK(removed.exit_code == 0);
  CHECK(removed.lines == std::vector<std::string>{
      "cluster a: removed the expired Lease kube-system/refit-eks-upgrade of run 20260101-000000-aaaaaa on host "
      "host-a (since 2026-01-01T00:00:00Z, last renewed 2026-01-01T00:00:00Z, expired 2026-01-01T00:02:00Z)",
      "cluster b: removed the expired Lease kube-system/refit-eks-upgrade of run 20260101-000000-aaaaaa on host "
      "host-a (since 2026-01-01T00:01:40Z, last renewed 2026-01-01T00:01:40Z, expired 2026-01-01T00:03:40Z)"});
  CHECK(stored_lease(a).is_null());
  CHECK(stored_lease(b).is_null());
  CHECK(unlock_leases(both, request, kEpoch).lines.front() ==
        "cluster a: no Lease kube-system/refit-eks-upgrade: nothing to unlock");

  // --force removes a live one, saying whose it was.
  REQUIRE(try_take(a, options_of("20260101-000000-aaaaaa"), kEpoch).kind == TakeResult::Kind::Created);
  request.force = true;
  UnlockReport forced = unlock_leases({{"a", &a}}, request, kEpoch + 1'000);
  CHECK(forced.exit_code == 0);
  CHECK(forced.lines == std::vector<std::string>{
      "cluster a: removed the live Lease kube-system/refit-eks-upgrade of run 20260101-000000-aaaaaa on host host-a "
      "(since 2026-01-01T00:00:00Z, last renewed 2026-01-01T00:00:00Z, expires 2026-01-01T00:02:00Z): if that run is "
      "still going, it stops before its next call"});
}
