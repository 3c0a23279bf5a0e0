// The served world's recent changes, per cluster, for watches: every change the store makes (through
// the runtime's change tap) is kept, up to a bound, with the object before and after it. A watch
// reads the changes after its resourceVersion; one older than what is kept gets 410 Gone, as from an
// API server whose watch cache moved on. Watch streams wait here without holding the world's lock.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cluster/sim/object_store.hpp"

namespace refit::serve {

using Json = nlohmann::json;

struct WatchEvent {
  std::uint64_t resource_version;
  sim::ChangeType type;
  std::string group;  // the storage group (extensions Deployments are apps Deployments)
  std::string kind;
  std::shared_ptr<const Json> object;  // after the change; for a deletion, the last state
  std::shared_ptr<const Json> old;     // before a modification; null otherwise
};

using WatchEventPtr = std::shared_ptr<const WatchEvent>;

// What a watch asks for from the history.
enum class HistoryRead { Events, TooOld, Stopped };

class WatchHub {
 public:
  // Keeps at most `capacity` changes per cluster.
  explicit WatchHub(std::size_t capacity) : capacity_(capacity) {}

  // Starts a cluster's history at its store's current resourceVersion: a watch from before it is too old.
  void add_cluster(const std::string& cluster, std::uint64_t resource_version);

  // Records a change; called under the world's lock, from the change tap.
  void record(const std::string& cluster, const sim::Change& change);

  // The changes of `cluster` after `after`, waiting until there is one, `deadline` passes (an empty
  // result) or the hub stops. TooOld: changes after `after` were dropped (`oldest` says from which
  // resourceVersion a watch may start). Callers that must check their connection meanwhile pass a
  // near deadline and call again.
  HistoryRead read_after(const std::string& cluster, std::uint64_t after, std::chrono::steady_clock::time_point deadline,
                         std::vector<WatchEventPtr>& out, std::uint64_t& oldest);

  // The latest resourceVersion recorded for `cluster` (for BOOKMARK events).
  std::uint64_t latest(const std::string& cluster) const;

  // Wakes and ends every watch (the server is stopping).
  void stop();
  bool stopped() const;

 private:
  struct History {
    std::deque<WatchEventPtr> events;
    std::uint64_t dropped_through = 0;  // changes at or before this resourceVersion are not kept
    std::uint64_t latest = 0;
  };

  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, History, std::less<>> clusters_;
  bool stopped_ = false;
};

}  // namespace refit::serve
