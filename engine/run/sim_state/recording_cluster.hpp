// A cluster of a kept simulated world as the run sees it: every write goes to the world's cluster
// and is then kept in FILE with its arguments and outcome (reads pass through: they change nothing).
#pragma once
#include "cluster/cluster.hpp"
#include "run/sim_state/recorder.hpp"

namespace refit::run::simstate {

class RecordingCluster final : public cluster::Cluster {
 public:
  using Json = cluster::Json;

  RecordingCluster(cluster::Cluster& inner, Recorder& recorder) : inner_(inner), recorder_(recorder) {}

  const std::string& name() const override { return inner_.name(); }
  cluster::ServerVersion version() const override { return inner_.version(); }
  Json kubeconfig() const override { return inner_.kubeconfig(); }
  bool get(const cluster::ObjectRef& ref, const std::function<void(const Json&)>& visit) override {
    return inner_.get(ref, visit);
  }
  void list(const cluster::ListQuery& query, const std::function<void(const Json&)>& visit) override {
    inner_.list(query, visit);
  }
  void create(Json object, const StoredVisitor& stored) override;
  void apply(Json object, const cluster::ApplyOptions& options, const StoredVisitor& stored) override;
  void replace(Json object, const StoredVisitor& stored) override;
  void merge_patch(const cluster::ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  void json_patch(const cluster::ObjectRef& ref, const Json& ops, const StoredVisitor& stored) override;
  void strategic_patch(const cluster::ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  void patch_status(const cluster::ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  bool remove(const cluster::ObjectRef& ref, const cluster::DeleteOptions& options) override;
  void evict(const cluster::ObjectRef& pod) override;

 private:
  // Runs `write` (which calls the inner cluster with the visitor it is given), then keeps `record`
  // with the outcome.
  template <typename Write>
  void recorded(Json record, const StoredVisitor& stored, Write&& write);

  cluster::Cluster& inner_;
  Recorder& recorder_;
};

}  // namespace refit::run::simstate
