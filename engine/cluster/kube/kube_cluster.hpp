// A cluster reached through the Kubernetes API: cluster::Cluster over HTTP (http_client.hpp), with
// retries (api_transport.hpp), discovery (discovery.hpp) and, inside waits, reads from watches
// (wait_cache.hpp). Failures are cluster::ApiError in the simulated cluster's words where it has them,
// so a playbook behaves the same against both (docs/real-clusters.md).
#pragma once
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "cluster/cluster.hpp"
#include "cluster/snapshot.hpp"
#include "cluster/kube/api_transport.hpp"
#include "cluster/kube/discovery.hpp"
#include "cluster/kube/endpoint.hpp"
#include "cluster/kube/http_client.hpp"
#include "cluster/kube/wait_cache.hpp"
#include "cluster/kube/watch.hpp"

namespace simdjson::dom { class parser; }

namespace refit::kube {

using cluster::Json;
using cluster::ListQuery;
using cluster::ObjectRef;

struct KubeClusterOptions {
  WarningSink warn;  // insecure TLS, the server's Warning headers, waits that fall back to polling
  RetryPolicy retry;
  RetryClock clock = RetryClock::system();
  HttpOptions http;
  int list_page_size = 500;
  int watch_timeout_seconds = 300;  // the server ends a watch after this; it is then re-opened
};

class KubeCluster final : public cluster::Cluster {
 public:
  // `hub` drives the watches of waits (KubeWorld gives its own); without one, reads always go to the
  // server. Nothing is sent before the first call.
  KubeCluster(std::string name, Endpoint endpoint, KubeClusterOptions options = {}, WatchHub* hub = nullptr);
  ~KubeCluster() override;

  const std::string& name() const override { return name_; }
  // GET /version (on every call: a control-plane upgrade changes it).
  cluster::ServerVersion version() const override;
  // The endpoint's context, server and exec plugin (kubeconfig_view.hpp).
  Json kubeconfig() const override;
  bool get(const ObjectRef& ref, const std::function<void(const Json&)>& visit) override;
  void list(const ListQuery& query, const std::function<void(const Json&)>& visit) override;
  // Items parsed from the server's pages (simdjson), not converted: the Lua binding builds tables from
  // them. A page simdjson refuses (an integer beyond 64 bits, which nlohmann reads as a float; JSON
  // that is not JSON, for nlohmann's error message) and the reads of a wait come as Json values.
  void list_items(const ListQuery& query, const std::function<void(const cluster::ListItem&)>& visit) override;
  void create(Json object, const StoredVisitor& stored) override;
  void apply(Json object, const cluster::ApplyOptions& options, const StoredVisitor& stored) override;
  void replace(Json object, const StoredVisitor& stored) override;
  void merge_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  void json_patch(const ObjectRef& ref, const Json& ops, const StoredVisitor& stored) override;
  void strategic_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  void patch_status(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  bool remove(const ObjectRef& ref, const cluster::DeleteOptions& options) override;
  void evict(const ObjectRef& pod) override;

  // A wait begins or ends (they nest): between the two, get and list read from watches.
  void wait_began();
  void wait_ended();
  // Re-opens and re-lists the watches of the current wait as needed; when it next needs to (RetryClock ms).
  void service_waits();
  std::optional<std::int64_t> next_wait_due_ms() const;

  // Something other than this client may have written CustomResourceDefinitions (a vendor CLI that
  // installs or upgrades a product): kinds found missing may be served now.
  void forget_discovery_misses() { discovery_.forget_misses(); }

  // Every kind the server lists (preferred versions), for snapshots.
  std::vector<cluster::SnapshotKind> listable_kinds();

  const Endpoint& endpoint() const { return http_.endpoint(); }
  // Requests sent, retries and watches included.
  std::uint64_t requests_sent() const { return http_.requests_sent(); }
  // The HTTP version of the last answer ("HTTP/2", "HTTP/1.1"), once one came.
  std::string protocol() const { return http_.protocol(); }

 private:
  struct Target;
  const ApiResource* resource_for(const std::string& api_version, const std::string& kind, bool writing);
  Target target_of(const ObjectRef& ref, const char* verb, bool writing);
  Target target_of(Json& object, const char* verb);
  // Sends a request (after a read-ahead left behind, if any, is over) and throws ApiError for an
  // error status other than 404.
  Exchange call(HttpRequest request, const SendRules& rules, const RequestSubject& subject);
  Exchange send(HttpRequest request, const SendRules& rules, const RequestSubject& subject);
  // Waits for a list's read-ahead to end (one that list_items' visit is still converting the page
  // before, or that it did not collect because a Lua error took the caller past it), so that the
  // connection is used by one thread at a time.
  void finish_read_ahead();
  Json parse(const HttpResponse& response, const RequestSubject& subject) const;
  void write(Target& target, HttpRequest request, const SendRules& rules, const StoredVisitor& stored);
  void patch(const ObjectRef& ref, std::string_view content_type, const Json& body, bool idempotent,
             const StoredVisitor& stored, const char* suffix = "");
  // The resource a list reads (null: a kind the server does not serve), and its namespace in `ns`.
  const ApiResource* list_target(const ListQuery& query, std::string& ns);
  std::string list_pages(const ApiResource& resource, const std::string& ns, const std::string& labels,
                         const std::string& fields, const std::function<void(Json&)>& take);
  // Sends a list's requests page by page; `read` takes each answer and returns its continue token.
  // With `visit_read`, each page is visited in a second step, after `read` and while the next page is
  // being fetched (by another thread): the server's work on a page overlaps the caller's on the last.
  void page_through(const ApiResource& resource, const std::string& ns, const std::string& labels,
                    const std::string& fields,
                    const std::function<std::string(HttpResponse& page, const RequestSubject& subject)>& read,
                    const std::function<void()>& visit_read = {});
  // One page's answer: a 404 or an error Status thrown as ApiError (a 410 after the first page with
  // what to do about it). On the read-ahead thread it uses send(), as call() would wait for itself.
  Exchange fetch_page(const std::string& target, bool first, const RequestSubject& subject, bool on_read_ahead);
  // Reads a page into Json values (apiVersion and kind set), hands them to `take`, and returns the
  // page's continue token; `version` receives its resourceVersion.
  std::string take_json_page(HttpResponse& page, const RequestSubject& subject, const ApiResource& resource,
                             const std::function<void(Json&)>& take, std::string& version) const;

  std::string name_;
  KubeClusterOptions options_;
  HttpClient http_;
  ApiTransport transport_;
  Discovery discovery_;
  mutable std::optional<cluster::ServerVersion> version_;  // the last one read
  std::unique_ptr<WaitCache> waits_;  // only with a hub
  std::unique_ptr<simdjson::dom::parser> page_parser_;  // kept: it reuses its buffers from page to page
  // The next page of list_items, being fetched while the caller converts the current one. A member,
  // not a local of page_through: the caller's conversion may end in a Lua error (a longjmp, which
  // skips C++ destructors), and the request then still in flight must be waited for before this
  // cluster's connection is used again (finish_read_ahead). Declared last, so destroyed (waited for) first.
  std::future<Exchange> read_ahead_;
};

}  // namespace refit::kube
