// A simulated cluster: an ObjectStore plus the API server's version.
#pragma once
#include <string>

#include "cluster/cluster.hpp"
#include "cluster/sim/object_store.hpp"

namespace refit::sim {

class SimCluster final : public cluster::Cluster {
 public:
  SimCluster(std::string name, std::string git_version, std::function<std::int64_t()> now_ms);

  const std::string& name() const override { return name_; }
  cluster::ServerVersion version() const override;
  void set_version(const std::string& git_version);
  bool get(const ObjectRef& ref, const std::function<void(const Json&)>& visit) override;
  void list(const ListQuery& query, const std::function<void(const Json&)>& visit) override;
  void create(Json object, const StoredVisitor& stored) override;
  void apply(Json object, const StoredVisitor& stored) override;
  void merge_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  void json_patch(const ObjectRef& ref, const Json& ops, const StoredVisitor& stored) override;
  void patch_status(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override;
  bool remove(const ObjectRef& ref) override;

  ObjectStore& store() { return store_; }
  const ObjectStore& store() const { return store_; }

 private:
  std::string name_;
  cluster::ServerVersion version_;
  ObjectStore store_;
};

}  // namespace refit::sim
