// A cluster of a kept simulated world as the run sees it: every write goes to the world's cluster
// and is then kept in FILE with its arguments and outcome (reads pass through: they change nothing).
#pragma once
#include "cluster/forwarding_cluster.hpp"
#include "run/sim_state/recorder.hpp"

namespace refit::run::simstate {

class RecordingCluster final : public cluster::ForwardingCluster {
 public:
  using Json = cluster::Json;

  RecordingCluster(cluster::Cluster& inner, Recorder& recorder) : ForwardingCluster(inner), recorder_(recorder) {}

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

  Recorder& recorder_;
};

}  // namespace refit::run::simstate
