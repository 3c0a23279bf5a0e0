#include "cluster/kube/wait_cache.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "data/json_fields.hpp"

namespace refit::kube {

using data::string_member;

namespace {

using Json = nlohmann::json;

std::pair<std::string, std::string> identity(const Json& object) {
  auto metadata = object.find("metadata");
  if (metadata == object.end()) return {};
  return {string_member(*metadata, "namespace"), string_member(*metadata, "name")};
}

// A watch that ends this soon with nothing new is counted as a failure (client-go's reflector calls it
// "a very short watch"), so that a server that closes watches at once is not asked again in a tight
// loop, and what changed meanwhile is listed.
constexpr std::int64_t kShortestHealthyWatchMs = 1000;

// After this many failed watches in a row the user hears that the wait polls.
constexpr int kFailuresBeforeWarning = 3;

}  // namespace

WaitCache::WaitCache(HttpClient& http, WatchHub& hub, Lister lister, ApiTransport& transport, WarningSink warn,
                     int watch_timeout_seconds)
    : http_(http), hub_(hub), lister_(std::move(lister)), transport_(transport), warn_(std::move(warn)),
      watch_timeout_seconds_(watch_timeout_seconds) {}

WaitCache::~WaitCache() = default;

void WaitCache::end() {
  if (depth_ > 0 && --depth_ == 0) queries_.clear();
}

WaitCache::Query& WaitCache::ensure(const ApiResource& resource, const std::string& ns, const std::string& labels,
                                    const std::string& fields) {
  std::string key = resource.collection_path(ns) + "?" + selector_query(labels, fields);
  auto [it, added] = queries_.try_emplace(std::move(key));
  Query& query = it->second;
  if (added) {
    query.resource = &resource;
    query.ns = ns;
    query.labels = labels;
    query.fields = fields;
    try {
      fill(query);
    } catch (...) {
      queries_.erase(it);
      throw;
    }
  } else if (query.polling || query.relist) {
    fill(query);
  }
  return query;
}

void WaitCache::fill(Query& query) {
  query.stream.reset();
  std::map<std::pair<std::string, std::string>, Json> fresh;
  query.resource_version = lister_(*query.resource, query.ns, query.labels, query.fields,
                                   [&](Json& item) { fresh.emplace(identity(item), std::move(item)); });
  query.objects = std::move(fresh);
  query.relist = false;
  if (!query.polling) open(query);
}

void WaitCache::open(Query& query) {
  std::string target = fmt::format("{}?watch=1&allowWatchBookmarks=true&timeoutSeconds={}&resourceVersion={}{}",
                                   query.resource->collection_path(query.ns), watch_timeout_seconds_,
                                   url_encode(query.resource_version), selector_query(query.labels, query.fields));
  query.opened_at = transport_.clock().now_ms();
  query.delivered = 0;
  query.stream = std::make_unique<WatchStream>(hub_, http_, target, [this, &query](Json& event) { on_event(query, event); });
}

void WaitCache::on_event(Query& query, Json& event) {
  const std::string& type = string_member(event, "type");
  auto found = event.find("object");
  if (found == event.end() || !found->is_object()) return;
  Json& object = *found;
  auto metadata = object.find("metadata");
  if (type == "ERROR") {
    // A Status: 410 Gone says the resourceVersion is too old to watch from.
    if (object.value("code", 0) == 410) query.relist = true;
    return;
  }
  static const std::string kNoVersion;
  const std::string& version =
      metadata != object.end() && metadata->is_object() ? string_member(*metadata, "resourceVersion") : kNoVersion;
  // A bookmark that repeats the resourceVersion the watch began at is no progress: a server that ends
  // each watch at once with one must not count as watching.
  if (type != "BOOKMARK" || (!version.empty() && version != query.resource_version)) ++query.delivered;
  if (!version.empty()) query.resource_version = version;
  if (type == "BOOKMARK") return;
  if (type == "DELETED") {
    query.objects.erase(identity(object));
  } else if (type == "ADDED" || type == "MODIFIED") {
    object["apiVersion"] = query.resource->api_version;
    object["kind"] = query.resource->kind;
    auto key = identity(object);
    query.objects.insert_or_assign(std::move(key), std::move(object));
  } else {
    return;
  }
  hub_.note_change();
}

bool WaitCache::get(const ApiResource& resource, const std::string& ns, const std::string& name, const Visitor& visit) {
  // A list of the whole collection that the wait already reads answers gets of its objects too.
  static const std::string all_namespaces;
  const std::string* scopes[] = {&ns, &all_namespaces};
  for (int i = 0; i < (ns.empty() ? 1 : 2); ++i) {
    auto it = queries_.find(resource.collection_path(*scopes[i]) + "?");
    if (it == queries_.end() || it->second.polling) continue;
    auto object = it->second.objects.find({ns, name});
    if (object == it->second.objects.end()) return false;
    visit(object->second);
    return true;
  }
  Query& query = ensure(resource, ns, "", "metadata.name=" + name);
  auto object = query.objects.find({ns, name});
  if (object == query.objects.end()) return false;
  visit(object->second);
  return true;
}

void WaitCache::list(const ApiResource& resource, const std::string& ns, const std::string& labels,
                     const std::string& fields, const Visitor& visit) {
  Query& query = ensure(resource, ns, labels, fields);
  for (const auto& [key, object] : query.objects) visit(object);
}

void WaitCache::note_written(const ApiResource& resource, const std::string& ns, const std::string& name,
                             const Json* stored) {
  const std::string by_name = "metadata.name=" + name;
  for (auto& [key, query] : queries_) {
    if (query.resource != &resource || !query.labels.empty()) continue;
    if (!query.fields.empty() && query.fields != by_name) continue;
    if (!query.ns.empty() && query.ns != ns) continue;
    if (stored == nullptr) query.objects.erase({ns, name});
    else query.objects.insert_or_assign({ns, name}, *stored);
  }
}

void WaitCache::service() {
  const std::int64_t now = transport_.clock().now_ms();
  for (auto& [key, query] : queries_) {
    if (query.polling) continue;
    if (query.stream && query.stream->failure()) std::rethrow_exception(query.stream->failure());
    if (query.relist || (query.stream && query.stream->ended() && query.stream->status() == 410)) {
      fill(query);
      hub_.note_change();  // the list may differ from what the events said
      continue;
    }
    if (query.stream && query.stream->ended()) watch_ended(query);
    if (query.stream || query.polling || now < query.reopen_at) continue;
    if (query.failures > 0) {
      // The failed watches may have missed changes: list (which opens the next watch).
      fill(query);
      hub_.note_change();
    } else {
      open(query);
    }
  }
}

void WaitCache::watch_ended(Query& query) {
  std::unique_ptr<WatchStream> stream = std::move(query.stream);
  const long status = stream->status();
  RequestSubject subject{"watch", query.resource->kind, query.ns, "", query.resource->qualified(), ""};
  if (status == 403 || status == 405) {
    query.polling = true;
    if (warn_) {
      warn_(fmt::format("{}: the context's user may list but not watch {}: waits on them poll the server instead "
                        "(grant the watch permission to spare it)", http_.where(), describe_subject(subject)));
    }
    return;
  }
  const std::optional<TransportError>& broken = stream->transport_error();
  if (broken && broken->stage == TransportError::Stage::Fatal) throw connection_error(*broken, subject);
  const std::int64_t now = transport_.clock().now_ms();
  const bool healthy = status == 200 && (query.delivered > 0 || (!broken && now - query.opened_at >= kShortestHealthyWatchMs));
  if (healthy) {
    query.failures = 0;
    query.reopen_at = now;
    return;
  }
  if (status == 401 && http_.endpoint().credentials && query.failures == 0) http_.endpoint().credentials->invalidate();
  ++query.failures;
  query.reopen_at = now + retry_delay_ms(transport_.policy(), query.failures, transport_.clock().random(), std::nullopt);
  if (query.failures == kFailuresBeforeWarning && !query.warned_failing && warn_) {
    query.warned_failing = true;
    std::string why = status != 0 && status != 200 ? fmt::format("are answered with status {}", status)
                      : broken                     ? "lose their connection"
                                                   : "end at once with nothing new";
    warn_(fmt::format("{}: watches of {} {} ({} in a row): the wait lists them instead, less and less often (up to "
                      "every {} s), until a watch stays open",
                      http_.where(), describe_subject(subject), why, query.failures,
                      (transport_.policy().max_delay_ms + 999) / 1000));
  }
}

std::optional<std::int64_t> WaitCache::next_due_ms() const {
  std::optional<std::int64_t> due;
  for (const auto& [key, query] : queries_) {
    if (query.stream || query.polling) continue;
    due = std::min(due.value_or(std::numeric_limits<std::int64_t>::max()), query.reopen_at);
  }
  return due;
}

}  // namespace refit::kube
