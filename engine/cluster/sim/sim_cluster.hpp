// A simulated cluster: an ObjectStore plus the API server's version. Store errors leave it as
// cluster::ApiError with the status code the API server would send (404, 409, 422), so playbooks,
// the engine and `refit sim serve` see the same failures as against a real cluster.
#pragma once
#include <functional>
#include <string>
#include <utility>

#include "cluster/cluster.hpp"
#include "cluster/sim/object_store.hpp"

namespace refit::sim {

class SimCluster final : public cluster::Cluster {
 public:
  SimCluster(std::string name, std::string git_version, std::function<std::int64_t()> now_ms);

  const std::string& name() const override { return name_; }
  cluster::ServerVersion version() const override;
  void set_version(const std::string& git_version);
  // The kubeconfig context a snapshot read the cluster through (the fixture's `kubeconfig`), or null.
  Json kubeconfig() const override { return kubeconfig_; }
  void set_kubeconfig(Json view) { kubeconfig_ = std::move(view); }
  bool get(const ObjectRef& ref, const std::function<void(const Json&)>& visit) override;
  void list(const ListQuery& query, const std::function<void(const Json&)>& visit) override;
  void create(Json object, const StoredVisitor& stored) override;
  void apply(Json object, const cluster::ApplyOptions& options, const StoredVisitor& stored) override;
  void replace(Json object, const StoredVisitor& stored) override;
  void merge_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  void json_patch(const ObjectRef& ref, const Json& ops, const StoredVisitor& stored) override;
  void strategic_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  void patch_status(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  bool remove(const ObjectRef& ref, const cluster::DeleteOptions& options) override;
  void evict(const ObjectRef& pod) override;

  // The eviction subresource's rules (PodDisruptionBudgets) live in the kube model (Lua): the
  // runtime installs them here. Without one, an eviction deletes the pod.
  using Evictor = std::function<void(SimCluster&, const ObjectRef&)>;
  void set_evictor(Evictor evictor) { evictor_ = std::move(evictor); }

  ObjectStore& store() { return store_; }
  const ObjectStore& store() const { return store_; }

 private:
  std::string name_;
  cluster::ServerVersion version_;
  ObjectStore store_;
  Evictor evictor_;
  Json kubeconfig_;
};

// The API server's answer to a store error: NotFound 404, AlreadyExists 409, Conflict 409, Invalid 422.
cluster::ApiError api_error_of(const StoreError& e);

}  // namespace refit::sim
