#include "run/real_world.hpp"

#include <stdexcept>

namespace refit::run {

// Until the Kubernetes API backend is wired in, a real world cannot be built: the constructor says
// so, which is what `refit apply` said before real clusters were planned.
struct RealWorld::Impl {
  std::vector<std::pair<std::string, cluster::Cluster*>> clusters;
  std::string default_name;
};

RealWorld::RealWorld(RealWorldOptions) {
  throw std::runtime_error("real clusters are not available in this build yet: rehearse with --sim FIXTURE");
}
RealWorld::~RealWorld() = default;
const std::vector<std::pair<std::string, cluster::Cluster*>>& RealWorld::clusters() const { return impl_->clusters; }
const std::string& RealWorld::default_name() const { return impl_->default_name; }
std::vector<std::string> RealWorld::describe() const { return {}; }
Timeline& RealWorld::timeline() { throw std::logic_error("no real world"); }
exec::Executor& RealWorld::executor() { throw std::logic_error("no real world"); }
cluster::Cluster* RealWorld::connect(const std::string&, const std::string&) { throw std::logic_error("no real world"); }

}  // namespace refit::run
