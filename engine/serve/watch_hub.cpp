#include "serve/watch_hub.hpp"

#include <algorithm>
#include <charconv>

#include "cluster/kinds.hpp"
#include "data/json_fields.hpp"

namespace refit::serve {

using data::string_member;

namespace {

std::uint64_t resource_version_of(const Json& object) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return 0;
  auto rv = metadata->find("resourceVersion");
  if (rv == metadata->end() || !rv->is_string()) return 0;
  const std::string& text = rv->get_ref<const std::string&>();
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

}  // namespace

void WatchHub::add_cluster(const std::string& cluster, std::uint64_t resource_version) {
  std::lock_guard lock(mutex_);
  History& history = clusters_[cluster];
  history.dropped_through = resource_version;
}

void WatchHub::record(const std::string& cluster, const sim::Change& change, std::int64_t world_ms) {
  auto event = std::make_shared<WatchEvent>();
  event->world_ms = world_ms;
  event->type = change.type;
  event->resource_version = resource_version_of(change.object);
  event->kind = string_member(change.object, "kind");
  event->group = std::string(storage_group_of(group_of(string_member(change.object, "apiVersion")), event->kind));
  event->object = std::make_shared<const Json>(change.object);
  if (change.old != nullptr) event->old = std::make_shared<const Json>(*change.old);
  {
    std::lock_guard lock(mutex_);
    History& history = clusters_[cluster];
    history.events.push_back(std::move(event));
    while (history.events.size() > capacity_) {
      history.dropped_through = history.events.front()->resource_version;
      history.events.pop_front();
    }
  }
  changed_.notify_all();
}

HistoryRead WatchHub::read_after(const std::string& cluster, std::uint64_t after,
                                 std::chrono::steady_clock::time_point deadline, std::vector<WatchEventPtr>& out,
                                 std::uint64_t& oldest) {
  std::unique_lock lock(mutex_);
  auto it = clusters_.find(cluster);
  if (it == clusters_.end()) return HistoryRead::Stopped;
  History& history = it->second;
  for (;;) {
    if (stopped_) return HistoryRead::Stopped;
    if (after < history.dropped_through) {
      oldest = history.dropped_through;
      return HistoryRead::TooOld;
    }
    auto first = std::upper_bound(history.events.begin(), history.events.end(), after,
                                  [](std::uint64_t rv, const WatchEventPtr& e) { return rv < e->resource_version; });
    if (first != history.events.end()) {
      out.insert(out.end(), first, history.events.end());
      return HistoryRead::Events;
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      if (stopped_) return HistoryRead::Stopped;
      return HistoryRead::Events;  // nothing new before the deadline
    }
  }
}

void WatchHub::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  changed_.notify_all();
}

bool WatchHub::stopped() const {
  std::lock_guard lock(mutex_);
  return stopped_;
}

}  // namespace refit::serve
