// Fault injection for the served API: the scenario's `api:` section, read and checked, and the
// decisions it makes — their rates, filters and ranges for a fixed seed, the same from many threads.
#include <catch2/catch.hpp>

#include <map>
#include <thread>

#include "data/yaml.hpp"
#include "serve/api_faults.hpp"

using namespace refit::serve;
using nlohmann::json;

namespace {

ApiFaultsConfig parse(const std::string& yaml) { return parse_api_faults(refit::data::parse_yaml(yaml), "s.yaml"); }

ApiFaults faults(const std::string& yaml, std::uint64_t seed = 1) { return ApiFaults(parse(yaml), seed); }

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const ApiFaultsError& e) {
    return e.what();
  }
  return "(no error)";
}

const RequestInfo kGetPod{"get", "pods", ""};

}  // namespace

TEST_CASE("api faults: a full section is read", "[api_faults]") {
  ApiFaultsConfig c = parse(R"(
seed: 7
errors: { rate: 0.25, statuses: [503, 429], retry_after: 2s, verbs: [get, list], resources: [pods, pods/eviction] }
latency: { min: 5ms, max: 1s }
watches: { rate: 0.5, after: 1m30s }
)");
  CHECK(c.seed == 7u);
  REQUIRE(c.errors.size() == 1);
  CHECK(c.errors[0].rate == 0.25);
  CHECK(c.errors[0].statuses == std::vector<int>{503, 429});
  CHECK(c.errors[0].retry_after_s == 2);
  CHECK(c.errors[0].verbs == std::vector<std::string>{"get", "list"});
  CHECK(c.errors[0].resources == std::vector<std::string>{"pods", "pods/eviction"});
  REQUIRE(c.latency);
  CHECK(c.latency->min_ms == 5);
  CHECK(c.latency->max_ms == 1000);
  REQUIRE(c.watches);
  CHECK(c.watches->rate == 0.5);
  CHECK(c.watches->after.min_ms == 90'000);
  CHECK(c.watches->after.max_ms == 90'000);

  ApiFaultsConfig defaults = parse("errors: { rate: 1 }\nwatches: { after: 250 }");
  CHECK(defaults.errors[0].statuses == std::vector<int>{429, 500, 503});
  CHECK(defaults.errors[0].retry_after_s == 1);
  CHECK(defaults.errors[0].verbs.empty());
  CHECK(defaults.watches->rate == 1);
  CHECK(defaults.watches->after.min_ms == 250);  // an integer is milliseconds, as elsewhere in scenarios
  CHECK_FALSE(defaults.latency);
  CHECK_FALSE(defaults.seed);
}

TEST_CASE("api faults: no section, no faults", "[api_faults]") {
  ApiFaults none(parse_api_faults(json(), "s.yaml"), 1);
  for (int i = 0; i < 100; ++i) {
    Decision d = none.decide(kGetPod);
    CHECK(d.status == 0);
    CHECK(d.latency_ms == 0);
    CHECK(d.retry_after_s == 0);
    CHECK_FALSE(none.watch_lifetime());
  }
  CHECK(none.summary() == "none");
  CHECK(none.counts().requests == 100);
  CHECK(none.counts().errors == 0);
}

TEST_CASE("api faults: the error rate over many requests, per status, for a fixed seed", "[api_faults]") {
  ApiFaults f = faults("errors: { rate: 0.1, retry_after: 3s }", 42);
  std::map<int, int> by_status;
  for (int i = 0; i < 10000; ++i) {
    Decision d = f.decide(kGetPod);
    if (d.status == 0) continue;
    ++by_status[d.status];
    // Retry-After goes with 429 and 503, as the API server sends it.
    CHECK(d.retry_after_s == (d.status == 500 ? 0 : 3));
  }
  int errors = by_status[429] + by_status[500] + by_status[503];
  CHECK(by_status.size() == 3);
  // Deterministic: the exact counts for seed 42 (about 10%, about a third each).
  CHECK(errors == 994);
  CHECK(by_status[429] == 334);
  CHECK(by_status[500] == 356);
  CHECK(by_status[503] == 304);
  CHECK(f.counts().errors == 994);
  CHECK(f.counts().requests == 10000);

  // Rate 0 never fails; rate 1 always does.
  ApiFaults never = faults("errors: { rate: 0 }");
  ApiFaults always = faults("errors: { rate: 1, statuses: [504] }");
  for (int i = 0; i < 1000; ++i) {
    CHECK(never.decide(kGetPod).status == 0);
    Decision d = always.decide(kGetPod);
    CHECK(d.status == 504);
    CHECK(d.retry_after_s == 0);
  }
}

TEST_CASE("api faults: the same seed makes the same decisions; another seed others", "[api_faults]") {
  const std::string yaml =
      "errors: { rate: 0.3 }\nlatency: { min: 0, max: 100 }\nwatches: { rate: 0.5, after: { min: 1s, max: 9s } }";
  ApiFaults a = faults(yaml, 5), b = faults(yaml, 5), c = faults(yaml, 6);
  ApiFaults named = faults("seed: 5\n" + yaml, 999);  // api.seed wins over the world's seed
  int differ = 0;
  for (int i = 0; i < 500; ++i) {
    Decision x = a.decide(kGetPod), y = b.decide(kGetPod), z = c.decide(kGetPod), w = named.decide(kGetPod);
    CHECK(x.status == y.status);
    CHECK(x.latency_ms == y.latency_ms);
    CHECK(x.status == w.status);
    CHECK(x.latency_ms == w.latency_ms);
    if (x.status != z.status || x.latency_ms != z.latency_ms) ++differ;
    auto lx = a.watch_lifetime(), ly = b.watch_lifetime();
    CHECK(lx == ly);
  }
  CHECK(differ > 400);
}

TEST_CASE("api faults: errors only for the listed verbs and resources", "[api_faults]") {
  ApiFaults f = faults("errors: { rate: 0.5, verbs: [create, delete], resources: [pods/eviction, nodes] }");
  std::map<std::string, int> fails;
  const std::vector<RequestInfo> requests = {
      {"create", "pods", "eviction"}, {"create", "pods", ""}, {"delete", "nodes", ""},
      {"get", "nodes", ""},           {"create", "nodes", "status"}, {"get", "", ""}};
  for (int i = 0; i < 1000; ++i) {
    for (const auto& r : requests) {
      if (f.decide(r).status != 0) ++fails[r.verb + " " + r.resource + "/" + r.subresource];
    }
  }
  CHECK(fails.size() == 2);
  CHECK(fails["create pods/eviction"] == 499);
  CHECK(fails["delete nodes/"] == 518);

  // Without `resources`, every request of the verbs fails sometimes, the non-resource URLs too.
  ApiFaults any = faults("errors: { rate: 0.5, verbs: [get] }");
  int discovery = 0, lists = 0;
  for (int i = 0; i < 200; ++i) {
    if (any.decide({"get", "", ""}).status) ++discovery;
    if (any.decide({"list", "pods", ""}).status) ++lists;
  }
  CHECK(discovery == 99);
  CHECK(lists == 0);
}

TEST_CASE("api faults: a list of rules; the first that fires decides, each keeps its own filters", "[api_faults]") {
  const std::string yaml = R"(
errors:
  - { rate: 0.1, statuses: [429, 503], retry_after: 2s }
  - { rate: 0.2, statuses: [500], verbs: [get, list] }
)";
  ApiFaultsConfig c = parse(yaml);
  REQUIRE(c.errors.size() == 2);
  CHECK(c.errors[1].verbs == std::vector<std::string>{"get", "list"});

  ApiFaults f(c, 3);
  std::map<std::string, int> by_status;
  int create_errors = 0;
  for (int i = 0; i < 2000; ++i) {
    Decision get = f.decide(kGetPod);
    if (get.status != 0) ++by_status[std::to_string(get.status) + "/" + std::to_string(get.retry_after_s)];
    Decision create = f.decide({"create", "pods", ""});
    if (create.status != 0) {
      ++create_errors;
      CHECK(create.status != 500);  // the second rule is for get and list only
      CHECK(create.retry_after_s == 2);
    }
  }
  // gets: 10% from the first rule, and 20% of the remaining 90% from the second.
  CHECK(by_status.size() == 3);
  CHECK(by_status["429/2"] + by_status["503/2"] == Approx(200).margin(40));
  CHECK(by_status["500/0"] == Approx(360).margin(60));
  CHECK(create_errors == Approx(200).margin(40));

  // The first rule alone decides as the same rule given as a map does.
  ApiFaults single = faults("errors: { rate: 0.1, statuses: [429, 503], retry_after: 2s }", 3);
  ApiFaults listed = faults("errors: [{ rate: 0.1, statuses: [429, 503], retry_after: 2s }]", 3);
  for (int i = 0; i < 500; ++i) CHECK(single.decide(kGetPod).status == listed.decide(kGetPod).status);

  CHECK(faults(yaml, 3).summary() == "errors 10% (429, 503; Retry-After 2s); errors 20% (500) on get, list; seed 3");
}

TEST_CASE("api faults: latency within its range, reaching both ends; a single duration is fixed", "[api_faults]") {
  ApiFaults f = faults("latency: { min: 5ms, max: 50ms }");
  std::int64_t lowest = 1000, highest = -1;
  for (int i = 0; i < 5000; ++i) {
    Decision d = f.decide(kGetPod);
    CHECK(d.status == 0);
    lowest = std::min(lowest, d.latency_ms);
    highest = std::max(highest, d.latency_ms);
  }
  CHECK(lowest == 5);
  CHECK(highest == 50);
  ApiFaults fixed = faults("latency: 20ms");
  for (int i = 0; i < 100; ++i) CHECK(fixed.decide(kGetPod).latency_ms == 20);
}

TEST_CASE("api faults: watches dropped at their rate, after a time within the range", "[api_faults]") {
  ApiFaults f = faults("watches: { rate: 0.5, after: { min: 1s, max: 2s } }", 3);
  int dropped = 0;
  for (int i = 0; i < 1000; ++i) {
    if (auto ms = f.watch_lifetime()) {
      ++dropped;
      CHECK(*ms >= 1000);
      CHECK(*ms <= 2000);
    }
  }
  CHECK(dropped == 496);
  CHECK(f.counts().watches == 1000);
  CHECK(f.counts().watches_dropped == 496);
  ApiFaults every = faults("watches: { after: 30s }");
  for (int i = 0; i < 100; ++i) CHECK(every.watch_lifetime() == 30'000);
  CHECK_FALSE(faults("errors: { rate: 1 }").watch_lifetime());
}

TEST_CASE("api faults: decisions from many threads are the same set as from one", "[api_faults]") {
  const std::string yaml = "errors: { rate: 0.2 }";
  ApiFaults one = faults(yaml, 11);
  int sequential = 0;
  for (int i = 0; i < 8000; ++i) sequential += one.decide(kGetPod).status != 0;

  ApiFaults shared = faults(yaml, 11);
  std::vector<std::thread> threads;
  std::atomic<int> concurrent{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) concurrent += shared.decide(kGetPod).status != 0;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(concurrent == sequential);
  CHECK(shared.counts().requests == 8000);
  CHECK(shared.counts().errors == static_cast<std::uint64_t>(sequential));
}

TEST_CASE("api faults: the Status body of an injected error", "[api_faults]") {
  const json expected_429 = json::parse(R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"Too many requests, please try again later. (injected by the scenario's api.errors)",
    "reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429})json");
  const json expected_500 = json::parse(R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"Internal error occurred: injected by the scenario's api.errors (create pods/eviction)",
    "reason":"InternalError","code":500})json");
  CHECK(injected_status({0, 429, 1}, kGetPod) == expected_429);
  CHECK(injected_status({0, 500, 0}, {"create", "pods", "eviction"}) == expected_500);
  CHECK(injected_status({0, 503, 2}, {"list", "nodes", ""})["message"] ==
        "the server is currently unable to handle the request (list nodes; injected by the scenario's api.errors)");
  CHECK(injected_status({0, 503, 2}, {"list", "nodes", ""})["reason"] == "ServiceUnavailable");
  CHECK(injected_status({0, 504, 0}, {"get", "", ""})["reason"] == "Timeout");
}

TEST_CASE("api faults: the summary for the server's start-up message", "[api_faults]") {
  const std::string yaml = R"(
errors: { rate: 0.1, verbs: [get, list], resources: [pods] }
latency: { min: 5ms, max: 1500ms }
watches: { after: { min: 5s, max: 1h30m } }
)";
  CHECK(faults(yaml, 9).summary() ==
        "errors 10% (429, 500, 503; Retry-After 1s) on get, list of pods; latency 5ms-1s500ms; "
        "watches: 100% dropped after 5s-1h30m; seed 9");
  CHECK(faults("errors: { rate: 0.05, statuses: [500], retry_after: 0s }").summary() == "errors 5% (500); seed 1");
}

TEST_CASE("api faults: the longest Retry-After an injected error may carry", "[api_faults]") {
  CHECK(faults("errors: [{ rate: 0.1, statuses: [429], retry_after: 2s }, { rate: 0.1, statuses: [503] }]")
            .longest_retry_after_s() == 2);
  // 500 and 504 carry none; nor does a rule that never fires.
  CHECK(faults("errors: { rate: 0.1, statuses: [500, 504], retry_after: 5s }").longest_retry_after_s() == 0);
  CHECK(faults("errors: { rate: 0, statuses: [429], retry_after: 5s }").longest_retry_after_s() == 0);
  CHECK(faults("latency: 5ms").longest_retry_after_s() == 0);
}

TEST_CASE("api faults: mistakes name the field and say what is expected", "[api_faults]") {
  CHECK(error_of("[1]") == "s.yaml: api: must be a map, got a list");
  CHECK(error_of("errorz: {}") == "s.yaml: api.errorz: unknown field (known fields: errors, latency, seed, watches)");
  CHECK(error_of("seed: -1") == "s.yaml: api.seed: must be an integer of at least 0, got number -1");
  CHECK(error_of("errors: 0.1") == "s.yaml: api.errors: must be a map, or a list of maps, got number 0.1");
  CHECK(error_of("errors: []") == "s.yaml: api.errors: must not be empty (leave it out for every one)");
  CHECK(error_of("errors: [{ rate: 0.1 }, { rate: 0.1, statuses: [404] }]") ==
        "s.yaml: api.errors[2].statuses[1]: must be one of 429, 500, 503, 504 (the errors a client retries), "
        "got number 404");
  CHECK(error_of("errors: [{ rate: 0.1 }, 0.2]") == "s.yaml: api.errors[2]: must be a map, got number 0.2");
  CHECK(error_of("errors: {}") == "s.yaml: api.errors.rate: is required (a number from 0 to 1)");
  CHECK(error_of("errors: { rate: 10 }") ==
        "s.yaml: api.errors.rate: must be a number from 0 to 1 (0.1 is 10%), got number 10");
  CHECK(error_of("errors: { rate: \"10%\" }") ==
        "s.yaml: api.errors.rate: must be a number from 0 to 1 (0.1 is 10%), got string \"10%\"");
  CHECK(error_of("errors: { rate: 0.1, verb: [get] }") ==
        "s.yaml: api.errors.verb: unknown field (known fields: rate, resources, retry_after, statuses, verbs)");
  CHECK(error_of("errors: { rate: 0.1, statuses: [429, 404] }") ==
        "s.yaml: api.errors.statuses[2]: must be one of 429, 500, 503, 504 (the errors a client retries), "
        "got number 404");
  CHECK(error_of("errors: { rate: 0.1, statuses: [] }") ==
        "s.yaml: api.errors.statuses: must not be empty (leave it out for every one)");
  CHECK(error_of("errors: { rate: 0.1, verbs: get }") ==
        "s.yaml: api.errors.verbs: must be a list, got string \"get\"");
  CHECK(error_of("errors: { rate: 0.1, verbs: [get, post] }") ==
        "s.yaml: api.errors.verbs[2]: must be one of create, delete, deletecollection, get, list, patch, update, "
        "watch, got string \"post\"");
  CHECK(error_of("errors: { rate: 0.1, resources: [Pod.v1] }") ==
        "s.yaml: api.errors.resources[1]: must be a resource as URLs name it, such as \"pods\" or \"pods/eviction\", "
        "got string \"Pod.v1\"");
  CHECK(error_of("errors: { rate: 0.1, retry_after: 1500ms }") ==
        "s.yaml: api.errors.retry_after: must be whole seconds such as \"1s\" or \"30s\" (at most 1h; \"0s\" sends "
        "none), got string \"1500ms\"");
  CHECK(error_of("latency: fast") ==
        "s.yaml: api.latency: must be a duration such as \"250ms\", \"90s\" or \"1h30m\", or a map { min, max }, got "
        "string \"fast\"");
  CHECK(error_of("latency: 1.5") ==
        "s.yaml: api.latency: must be a duration such as \"250ms\", \"90s\" or \"1h30m\", or a map { min, max }, got "
        "number 1.5");
  CHECK(error_of("latency: { min: 5ms }") == "s.yaml: api.latency.max: is required (a duration)");
  CHECK(error_of("latency: { min: 5ms, max: 5sec }") ==
        "s.yaml: api.latency.max: must be a duration such as \"250ms\", \"90s\" or \"1h30m\", got string \"5sec\"");
  CHECK(error_of("latency: { min: 50ms, max: 5ms }") ==
        "s.yaml: api.latency.max: must be at least min (50ms), got 5ms");
  CHECK(error_of("latency: { min: 1ms, max: 2ms, avg: 1ms }") ==
        "s.yaml: api.latency.avg: unknown field (known fields: max, min)");
  CHECK(error_of("watches: { rate: 1 }") == "s.yaml: api.watches.after: is required (a duration, or { min, max })");
  CHECK(error_of("watches: { after: 1s, rate: true }") ==
        "s.yaml: api.watches.rate: must be a number from 0 to 1 (0.1 is 10%), got boolean true");
}
