#include "serve/api_faults.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "report/duration_text.hpp"

namespace refit::serve {

namespace {

using Json = nlohmann::json;

// Validation of the `api:` section, worded as stdlib/refit/sim/check.lua words scenario mistakes:
// "<file>: <path>: <what was expected>, got <what was found>". List indices count from 1.
// "250ms", "90s", "1h30m", "1s500ms": exact, in the grammar parse_duration reads (report::duration_text
// rounds, for people reading a report).
std::string duration_text(std::int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  const std::pair<std::int64_t, const char*> units[] = {{3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const auto& [size, name] : units) {
    if (ms >= size) out += fmt::format("{}{}", ms / size, name);
    ms %= size;
  }
  return out;
}

class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& message) const {
    throw ApiFaultsError(fmt::format("{}: {}: {}", file_, path, message));
  }

  // "a list", "a map", "string \"x\"", "number 1.5", "boolean true", "nothing": what was found.
  static std::string describe(const Json& v) {
    if (v.is_array()) return "a list";
    if (v.is_object()) return "a map";
    if (v.is_string()) return "string " + v.dump();
    if (v.is_null()) return "nothing";
    if (v.is_boolean()) return std::string("boolean ") + (v.get<bool>() ? "true" : "false");
    return "number " + v.dump();
  }

  static std::string field(const std::string& path, const std::string& key) { return path + "." + key; }
  static std::string index(const std::string& path, std::size_t i) { return fmt::format("{}[{}]", path, i + 1); }

  void map(const std::string& path, const Json& v) const {
    if (!v.is_object()) fail(path, "must be a map, got " + describe(v));
  }

  void known_fields(const std::string& path, const Json& v, std::vector<std::string> known) const {
    std::sort(known.begin(), known.end());
    for (const auto& [key, value] : v.items()) {  // nlohmann's object is sorted: the first is reported
      if (!std::binary_search(known.begin(), known.end(), key)) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        fail(field(path, key), "unknown field (known fields: " + list + ")");
      }
    }
  }

  double share(const std::string& path, const Json& v, std::optional<double> fallback) const {
    if (v.is_null()) {
      if (fallback) return *fallback;
      fail(path, "is required (a number from 0 to 1)");
    }
    if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1) {
      fail(path, "must be a number from 0 to 1 (0.1 is 10%), got " + describe(v));
    }
    return v.get<double>();
  }

  const Json& list(const std::string& path, const Json& v) const {
    if (!v.is_array()) fail(path, "must be a list, got " + describe(v));
    if (v.empty()) fail(path, "must not be empty (leave it out for every one)");
    return v;
  }

  // The grammar of refit.sim.util.parse_duration: an integer is milliseconds; a string is one or
  // more <digits><unit>, unit ms, s, m or h ("1h30m", "250ms").
  static std::optional<std::int64_t> parse_duration(const Json& v) {
    if (v.is_number_integer()) return v.get<std::int64_t>() < 0 ? std::nullopt : std::optional(v.get<std::int64_t>());
    if (!v.is_string()) return std::nullopt;
    return report::parse_duration_ms(v.get_ref<const std::string&>());
  }

  std::int64_t duration(const std::string& path, const Json& v) const {
    auto ms = parse_duration(v);
    if (!ms) fail(path, "must be a duration such as \"250ms\", \"90s\" or \"1h30m\", got " + describe(v));
    return *ms;
  }

  // One duration, or { min, max }.
  DurationRange range(const std::string& path, const Json& v) const {
    if (!v.is_object()) {
      auto ms = parse_duration(v);
      if (!ms) {
        fail(path, "must be a duration such as \"250ms\", \"90s\" or \"1h30m\", or a map { min, max }, got " +
                       describe(v));
      }
      return {*ms, *ms};
    }
    known_fields(path, v, {"min", "max"});
    for (const char* k : {"min", "max"}) {
      if (!v.contains(k)) fail(field(path, k), "is required (a duration)");
    }
    DurationRange r{duration(field(path, "min"), v["min"]), duration(field(path, "max"), v["max"])};
    if (r.max_ms < r.min_ms) {
      fail(field(path, "max"),
           "must be at least min (" + duration_text(r.min_ms) + "), got " + duration_text(r.max_ms));
    }
    return r;
  }

 private:
  std::string file_;
};

// One rule of `errors`; `path` is "api.errors", or "api.errors[2]" in a list of rules.
ApiFaultsConfig::Errors parse_errors(const Checker& check, const std::string& path, const Json& v) {
  check.map(path, v);
  check.known_fields(path, v, {"rate", "statuses", "retry_after", "verbs", "resources"});
  ApiFaultsConfig::Errors e;
  e.rate = check.share(Checker::field(path, "rate"), v.value("rate", Json()), std::nullopt);
  if (v.contains("statuses")) {
    const std::string p = Checker::field(path, "statuses");
    e.statuses.clear();
    const Json& list = check.list(p, v["statuses"]);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Json& s = list[i];
      bool ok = s.is_number_integer() &&
                std::count(kInjectableStatuses.begin(), kInjectableStatuses.end(), s.get<int>()) > 0;
      if (!ok) {
        check.fail(Checker::index(p, i), "must be one of 429, 500, 503, 504 (the errors a client retries), got " +
                                             Checker::describe(s));
      }
      e.statuses.push_back(s.get<int>());
    }
  }
  if (v.contains("retry_after")) {
    const std::string p = Checker::field(path, "retry_after");
    auto ms = Checker::parse_duration(v["retry_after"]);
    if (!ms || *ms % 1000 != 0 || *ms > 3'600'000) {
      check.fail(p, "must be whole seconds such as \"1s\" or \"30s\" (at most 1h; \"0s\" sends none), got " +
                        Checker::describe(v["retry_after"]));
    }
    e.retry_after_s = static_cast<int>(*ms / 1000);
  }
  if (v.contains("verbs")) {
    const std::string p = Checker::field(path, "verbs");
    const Json& list = check.list(p, v["verbs"]);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Json& verb = list[i];
      if (!verb.is_string() || !std::count(kApiVerbs.begin(), kApiVerbs.end(), verb.get<std::string>())) {
        std::string known;
        for (const auto& k : kApiVerbs) known += (known.empty() ? "" : ", ") + k;
        check.fail(Checker::index(p, i), "must be one of " + known + ", got " + Checker::describe(verb));
      }
      e.verbs.push_back(verb.get<std::string>());
    }
  }
  if (v.contains("resources")) {
    const std::string p = Checker::field(path, "resources");
    const Json& list = check.list(p, v["resources"]);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Json& r = list[i];
      bool ok = r.is_string() && !r.get<std::string>().empty() && r.get<std::string>().find_first_of(" .") ==
                                                                         std::string::npos;
      if (!ok) {
        check.fail(Checker::index(p, i),
                   "must be a resource as URLs name it, such as \"pods\" or \"pods/eviction\", got " +
                       Checker::describe(r));
      }
      e.resources.push_back(r.get<std::string>());
    }
  }
  return e;
}

ApiFaultsConfig::Watches parse_watches(const Checker& check, const Json& v) {
  const std::string path = "api.watches";
  check.map(path, v);
  check.known_fields(path, v, {"rate", "after"});
  ApiFaultsConfig::Watches w;
  w.rate = check.share(Checker::field(path, "rate"), v.value("rate", Json()), 1.0);
  if (!v.contains("after")) check.fail(Checker::field(path, "after"), "is required (a duration, or { min, max })");
  w.after = check.range(Checker::field(path, "after"), v["after"]);
  return w;
}

// SplitMix64's finalizer: a well-mixed 64-bit value from any input.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The k-th random value of the n-th draw of a stream: a function of (seed, stream, n, k) only, so
// concurrent callers need no lock and a replay with the same seed makes the same decisions.
std::uint64_t random_value(std::uint64_t seed, std::uint64_t stream, std::uint64_t n, std::uint64_t k) {
  return mix(mix(mix(seed ^ (stream << 56)) ^ n) ^ k);
}

double unit_interval(std::uint64_t x) { return static_cast<double>(x >> 11) * 0x1.0p-53; }  // [0, 1)

std::int64_t in_range(const DurationRange& r, std::uint64_t x) {
  std::uint64_t span = static_cast<std::uint64_t>(r.max_ms - r.min_ms) + 1;
  return r.min_ms + static_cast<std::int64_t>(x % span);
}

constexpr std::uint64_t kRequestStream = 1;
constexpr std::uint64_t kWatchStream = 2;

bool listed(const std::vector<std::string>& list, const std::string& value) {
  return list.empty() || std::count(list.begin(), list.end(), value) > 0;
}

std::string range_text(const DurationRange& r) {
  if (r.min_ms == r.max_ms) return duration_text(r.min_ms);
  return duration_text(r.min_ms) + "-" + duration_text(r.max_ms);
}

std::string percent(double share) { return fmt::format("{:g}%", share * 100); }

// Retry-After goes with 429 and 503 only.
bool sends_retry_after(const ApiFaultsConfig::Errors& e) {
  return e.retry_after_s > 0 &&
         std::any_of(e.statuses.begin(), e.statuses.end(), [](int s) { return s == 429 || s == 503; });
}

template <typename T>
std::string joined(const std::vector<T>& items) {
  return fmt::format("{}", fmt::join(items, ", "));
}

}  // namespace

ApiFaultsConfig parse_api_faults(const Json& api, const std::string& file) {
  ApiFaultsConfig config;
  if (api.is_null()) return config;
  Checker check(file);
  check.map("api", api);
  check.known_fields("api", api, {"seed", "errors", "latency", "watches"});
  if (api.contains("seed")) {
    const Json& seed = api["seed"];
    if (!seed.is_number_integer() || seed.get<std::int64_t>() < 0) {
      check.fail("api.seed", "must be an integer of at least 0, got " + Checker::describe(seed));
    }
    config.seed = seed.get<std::uint64_t>();
  }
  if (api.contains("errors")) {
    const Json& errors = api["errors"];
    if (errors.is_array()) {
      check.list("api.errors", errors);
      for (std::size_t i = 0; i < errors.size(); ++i) {
        config.errors.push_back(parse_errors(check, Checker::index("api.errors", i), errors[i]));
      }
    } else {
      if (!errors.is_object()) {
        check.fail("api.errors", "must be a map, or a list of maps, got " + Checker::describe(errors));
      }
      config.errors.push_back(parse_errors(check, "api.errors", errors));
    }
  }
  if (api.contains("latency")) config.latency = check.range("api.latency", api["latency"]);
  if (api.contains("watches")) config.watches = parse_watches(check, api["watches"]);
  return config;
}

ApiFaults::ApiFaults(ApiFaultsConfig config, std::uint64_t default_seed)
    : config_(std::move(config)), seed_(config_.seed.value_or(default_seed)) {}

Decision ApiFaults::decide(const RequestInfo& request) {
  const std::uint64_t n = requests_.fetch_add(1, std::memory_order_relaxed);
  Decision d;
  if (config_.latency) {
    d.latency_ms = in_range(*config_.latency, random_value(seed_, kRequestStream, n, 0));
  }
  std::string resource = request.resource;
  if (!request.subresource.empty()) resource += "/" + request.subresource;
  // Each rule draws its own values (rule i: draws 2i+1 and 2i+2), so adding a rule leaves the
  // decisions of those before it as they were.
  for (std::size_t i = 0; i < config_.errors.size(); ++i) {
    const ApiFaultsConfig::Errors& e = config_.errors[i];
    if (!listed(e.verbs, request.verb) || !listed(e.resources, resource)) continue;
    if (unit_interval(random_value(seed_, kRequestStream, n, 2 * i + 1)) >= e.rate) continue;
    d.status = e.statuses[random_value(seed_, kRequestStream, n, 2 * i + 2) % e.statuses.size()];
    if (d.status == 429 || d.status == 503) d.retry_after_s = e.retry_after_s;
    errors_.fetch_add(1, std::memory_order_relaxed);
    break;
  }
  return d;
}

std::optional<std::int64_t> ApiFaults::watch_lifetime() {
  const std::uint64_t n = watches_.fetch_add(1, std::memory_order_relaxed);
  const auto& w = config_.watches;
  if (!w || unit_interval(random_value(seed_, kWatchStream, n, 0)) >= w->rate) return std::nullopt;
  watches_dropped_.fetch_add(1, std::memory_order_relaxed);
  return in_range(w->after, random_value(seed_, kWatchStream, n, 1));
}

int ApiFaults::longest_retry_after_s() const {
  int longest = 0;
  for (const ApiFaultsConfig::Errors& e : config_.errors) {
    if (e.rate > 0 && sends_retry_after(e)) longest = std::max(longest, e.retry_after_s);
  }
  return longest;
}

std::string ApiFaults::summary() const {
  std::vector<std::string> parts;
  for (const ApiFaultsConfig::Errors& e : config_.errors) {
    std::string s = fmt::format("errors {} ({}", percent(e.rate), joined(e.statuses));
    if (sends_retry_after(e)) s += fmt::format("; Retry-After {}s", e.retry_after_s);
    s += ")";
    if (!e.verbs.empty()) s += " on " + joined(e.verbs);
    if (!e.resources.empty()) s += " of " + joined(e.resources);
    parts.push_back(s);
  }
  if (config_.latency) parts.push_back("latency " + range_text(*config_.latency));
  if (const auto& w = config_.watches) {
    parts.push_back(fmt::format("watches: {} dropped after {}", percent(w->rate), range_text(w->after)));
  }
  if (parts.empty()) return "none";
  parts.push_back(fmt::format("seed {}", seed_));
  return fmt::format("{}", fmt::join(parts, "; "));
}

ApiFaults::Counts ApiFaults::counts() const {
  return {requests_.load(), errors_.load(), watches_.load(), watches_dropped_.load()};
}

Json injected_status(const Decision& decision, const RequestInfo& request) {
  const char* reason = "InternalError";
  std::string message;
  const std::string why = "injected by the scenario's api.errors";
  std::string what = request.resource.empty() ? request.verb : request.verb + " " + request.resource;
  if (!request.resource.empty() && !request.subresource.empty()) what += "/" + request.subresource;
  switch (decision.status) {
    case 429:
      reason = "TooManyRequests";
      message = "Too many requests, please try again later. (" + why + ")";
      break;
    case 503:
      reason = "ServiceUnavailable";
      message = "the server is currently unable to handle the request (" + what + "; " + why + ")";
      break;
    case 504:
      reason = "Timeout";
      message = "the server was unable to return a response in the time allotted, but may still be processing the "
                "request (" + what + "; " + why + ")";
      break;
    default:
      message = "Internal error occurred: " + why + " (" + what + ")";
  }
  Json status = {{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Failure"},
                 {"message", message}, {"reason", reason},   {"code", decision.status}};
  if (decision.retry_after_s > 0) status["details"] = {{"retryAfterSeconds", decision.retry_after_s}};
  return status;
}

}  // namespace refit::serve
