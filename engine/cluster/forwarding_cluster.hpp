// A cluster that passes every call on to another: the base of the clusters that change a few calls
// and pass the rest (a kept world's recorder, tests' clusters that fail or convert), so that a call
// added to Cluster later is passed on too rather than answered by Cluster's default. (A recorder
// that did not pass kubeconfig() on once made eks/upgrade name the wrong EKS cluster.)
#pragma once
#include <utility>

#include "cluster/cluster.hpp"

namespace refit::cluster {

class ForwardingCluster : public Cluster {
 public:
  explicit ForwardingCluster(Cluster& inner) : inner_(inner) {}

  const std::string& name() const override { return inner_.name(); }
  ServerVersion version() const override { return inner_.version(); }
  Json kubeconfig() const override { return inner_.kubeconfig(); }
  bool get(const ObjectRef& ref, const std::function<void(const Json&)>& visit) override {
    return inner_.get(ref, visit);
  }
  void list(const ListQuery& query, const std::function<void(const Json&)>& visit) override {
    inner_.list(query, visit);
  }
  // list_items is not passed on: Cluster's own goes through list(), so a subclass that changes list()
  // changes both.
  void create(Json object, const StoredVisitor& stored) override { inner_.create(std::move(object), stored); }
  void apply(Json object, const ApplyOptions& options, const StoredVisitor& stored) override {
    inner_.apply(std::move(object), options, stored);
  }
  void replace(Json object, const StoredVisitor& stored) override { inner_.replace(std::move(object), stored); }
  void merge_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override {
    inner_.merge_patch(ref, patch, stored);
  }
  void json_patch(const ObjectRef& ref, const Json& ops, const StoredVisitor& stored) override {
    inner_.json_patch(ref, ops, stored);
  }
  void strategic_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override {
    inner_.strategic_patch(ref, patch, stored);
  }
  void patch_status(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) override {
    inner_.patch_status(ref, patch, stored);
  }
  bool remove(const ObjectRef& ref, const DeleteOptions& options) override { return inner_.remove(ref, options); }
  void evict(const ObjectRef& pod) override { inner_.evict(pod); }

 protected:
  Cluster& inner() { return inner_; }

 private:
  Cluster& inner_;
};

}  // namespace refit::cluster
