// refit sim serve: the watch history (changes after a resourceVersion, 410 when too old) and the
// store's dry-run mode (dryRun=All).
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "cluster/sim/object_store.hpp"
#include "serve/watch_hub.hpp"

using refit::serve::HistoryRead;
using refit::serve::WatchEventPtr;
using refit::serve::WatchHub;
using refit::sim::ChangeType;
using refit::sim::Json;
using refit::sim::ObjectRef;
using refit::sim::ObjectStore;

namespace {

Json config_map(const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"namespace", "shop"}, {"name", name}}},
          {"data", {{"value", value}}}};
}

struct TappedStore {
  explicit TappedStore(std::size_t capacity) : hub(capacity) {
    hub.add_cluster("demo", store.resource_version());
    store.set_observer([this](const refit::sim::Change& change) { hub.record("demo", change); }, true);
  }
  std::int64_t now = 0;
  ObjectStore store{[this] { return now; }};
  WatchHub hub;
};

auto soon() { return std::chrono::steady_clock::now() + std::chrono::milliseconds(10); }

}  // namespace

TEST_CASE("a watch reads the changes after its resourceVersion, with the object before a modification",
          "[serve][watch]") {
  TappedStore w(100);
  w.store.create(config_map("a", "1"));  // rv 1
  w.store.create(config_map("b", "1"));  // rv 2
  w.store.merge_patch(ObjectRef{"v1", "ConfigMap", "shop", "a"}, {{"data", {{"value", "2"}}}});  // rv 3
  w.store.remove(ObjectRef{"v1", "ConfigMap", "shop", "b"});  // rv 4

  std::vector<WatchEventPtr> events;
  std::uint64_t oldest = 0;
  REQUIRE(w.hub.read_after("demo", 1, soon(), events, oldest) == HistoryRead::Events);
  REQUIRE(events.size() == 3);
  CHECK(events[0]->resource_version == 2);
  CHECK(events[0]->type == ChangeType::Added);
  CHECK(events[0]->kind == "ConfigMap");
  CHECK(events[0]->group.empty());
  CHECK(events[1]->type == ChangeType::Modified);
  CHECK((*events[1]->object)["data"]["value"] == "2");
  REQUIRE(events[1]->old != nullptr);
  CHECK((*events[1]->old)["data"]["value"] == "1");
  CHECK(events[2]->type == ChangeType::Deleted);
  CHECK((*events[2]->object)["metadata"]["resourceVersion"] == "4");

  events.clear();
  CHECK(w.hub.read_after("demo", 4, soon(), events, oldest) == HistoryRead::Events);
  CHECK(events.empty());  // nothing newer before the deadline
}

TEST_CASE("a watch from before the kept history is too old (410 Gone)", "[serve][watch]") {
  TappedStore w(3);
  for (int i = 0; i < 5; ++i) w.store.create(config_map("cm-" + std::to_string(i), "x"));  // rv 1..5; 3..5 kept
  std::vector<WatchEventPtr> events;
  std::uint64_t oldest = 0;
  CHECK(w.hub.read_after("demo", 1, soon(), events, oldest) == HistoryRead::TooOld);
  CHECK(oldest == 2);
  CHECK(w.hub.read_after("demo", 2, soon(), events, oldest) == HistoryRead::Events);
  REQUIRE(events.size() == 3);
  CHECK(events.front()->resource_version == 3);
}

TEST_CASE("the history starts at the store's resourceVersion when serving begins", "[serve][watch]") {
  std::int64_t now = 0;
  ObjectStore store{[&] { return now; }};
  store.create(config_map("before", "x"));  // rv 1: the fixture, before the server
  WatchHub hub(10);
  hub.add_cluster("demo", store.resource_version());
  std::vector<WatchEventPtr> events;
  std::uint64_t oldest = 0;
  CHECK(hub.read_after("demo", 0, soon(), events, oldest) == HistoryRead::TooOld);
  CHECK(oldest == 1);
  CHECK(hub.read_after("demo", 1, soon(), events, oldest) == HistoryRead::Events);
}

TEST_CASE("a waiting watch wakes for a change, and ends when the hub stops", "[serve][watch]") {
  TappedStore w(10);
  std::vector<WatchEventPtr> events;
  std::uint64_t oldest = 0;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    w.store.create(config_map("late", "x"));  // the tap records under no other lock here
  });
  auto far = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  CHECK(w.hub.read_after("demo", 0, far, events, oldest) == HistoryRead::Events);
  writer.join();
  REQUIRE(events.size() == 1);
  CHECK((*events[0]->object)["metadata"]["name"] == "late");

  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    w.hub.stop();
  });
  events.clear();
  CHECK(w.hub.read_after("demo", 1, far, events, oldest) == HistoryRead::Stopped);
  stopper.join();
  CHECK(w.hub.stopped());
}

TEST_CASE("a dry-run write answers what it would store and changes nothing", "[serve][dryrun]") {
  std::int64_t now = 0;
  ObjectStore store{[&] { return now; }};
  int notified = 0;
  store.set_observer([&](const refit::sim::Change&) { ++notified; });
  store.create(config_map("kept", "1"));
  REQUIRE(notified == 1);
  const std::uint64_t rv = store.resource_version();
  ObjectRef kept{"v1", "ConfigMap", "shop", "kept"};

  store.set_dry_run(true);
  CHECK(store.dry_run());
  const Json& created = store.create(config_map("new", "1"));
  CHECK(created["metadata"]["name"] == "new");
  CHECK(created["metadata"]["uid"] == "00000000-0000-4000-8000-000000000002");
  CHECK_FALSE(created["metadata"].contains("resourceVersion"));
  CHECK_THROWS_WITH(store.create(config_map("kept", "2")), "ConfigMap shop/kept already exists");
  const Json& patched = store.merge_patch(kept, {{"data", {{"value", "2"}}}});
  CHECK(patched["data"]["value"] == "2");
  CHECK(patched["metadata"]["resourceVersion"] == std::to_string(rv));
  const Json& applied = store.apply(config_map("kept", "3"));
  CHECK(applied["data"]["value"] == "3");
  const Json& status = store.patch_status(kept, {{"phase", "Done"}});
  CHECK(status["status"]["phase"] == "Done");
  store.remove(kept);
  CHECK_THROWS_WITH(store.remove(ObjectRef{"v1", "ConfigMap", "shop", "missing"}), "ConfigMap shop/missing not found");
  store.set_dry_run(false);

  CHECK(notified == 1);
  CHECK(store.resource_version() == rv);
  CHECK(store.size() == 1);
  CHECK(store.get(ObjectRef{"v1", "ConfigMap", "shop", "new"}) == nullptr);
  const Json* stored = store.get(kept);
  REQUIRE(stored != nullptr);
  CHECK((*stored)["data"]["value"] == "1");
  CHECK_FALSE(stored->contains("status"));
  // The uid a dry run showed is the one a real create then takes.
  CHECK(store.create(config_map("new", "1"))["metadata"]["uid"] == "00000000-0000-4000-8000-000000000002");
}
