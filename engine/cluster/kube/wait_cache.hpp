// The reads of a wait, served from watches: the first read of a collection (a resource in a namespace
// with selectors, or one object by name) inside a wait lists it once and opens a watch from the list's
// resourceVersion; later reads of it in the wait are answered from what the list and the events say,
// so a wait costs a list and a watch however often its predicate runs. Watches that end are re-opened
// from the last resourceVersion they saw; one that is too old (410 Gone) is listed again. A user who
// may list but not watch gets a warning and waits that poll (one list a read).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "cluster/kube/api_transport.hpp"
#include "cluster/kube/discovery.hpp"
#include "cluster/kube/watch.hpp"

namespace refit::kube {

class WaitCache {
 public:
  using Json = nlohmann::json;
  using Visitor = std::function<void(const Json&)>;
  // Lists a collection from the server: hands each item (apiVersion and kind set) to `take`, which may
  // move it away, and returns the list's resourceVersion.
  using Lister = std::function<std::string(const ApiResource& resource, const std::string& ns, const std::string& labels,
                                           const std::string& fields, const std::function<void(Json&)>& take)>;

  WaitCache(HttpClient& http, WatchHub& hub, Lister lister, ApiTransport& transport, WarningSink warn,
            int watch_timeout_seconds);
  ~WaitCache();

  // Waits nest; the cache lives from the outermost begin to its end.
  void begin() { ++depth_; }
  void end();
  bool active() const { return depth_ > 0; }

  // As Cluster::get and Cluster::list, from the cache. `ns` is empty for cluster-scoped resources.
  bool get(const ApiResource& resource, const std::string& ns, const std::string& name, const Visitor& visit);
  void list(const ApiResource& resource, const std::string& ns, const std::string& labels, const std::string& fields,
            const Visitor& visit);

  // A write of this client inside the wait: the cached collections that hold the object see it at once
  // (its watch event follows and changes nothing more). `stored` null: deleted.
  void note_written(const ApiResource& resource, const std::string& ns, const std::string& name, const Json* stored);

  // Re-opens watches that ended and whose pause is over, re-lists expired ones. Throws cluster::ApiError
  // when a watch keeps failing or a re-list fails.
  void service();
  // When service() has something to do next (RetryClock ms), if it waits for a pause to pass.
  std::optional<std::int64_t> next_due_ms() const;

 private:
  struct Query {
    const ApiResource* resource = nullptr;
    std::string ns, labels, fields;
    std::map<std::pair<std::string, std::string>, Json> objects;  // (namespace, name) -> object
    std::string resource_version;
    std::unique_ptr<WatchStream> stream;
    std::int64_t opened_at = 0;
    std::int64_t reopen_at = 0;  // when `stream` is null and not polling: when to open it again
    int failures = 0;            // consecutive watches that ended in failure
    std::uint64_t delivered = 0; // events (not errors) the current watch delivered
    bool relist = false;
    bool polling = false;
  };

  Query& ensure(const ApiResource& resource, const std::string& ns, const std::string& labels, const std::string& fields);
  void fill(Query& query);
  void open(Query& query);
  void on_event(Query& query, Json& event);
  void watch_ended(Query& query);

  HttpClient& http_;
  WatchHub& hub_;
  Lister lister_;
  ApiTransport& transport_;
  WarningSink warn_;
  int watch_timeout_seconds_;
  int depth_ = 0;
  std::map<std::string, Query> queries_;  // by collection path and selectors
};

}  // namespace refit::kube
