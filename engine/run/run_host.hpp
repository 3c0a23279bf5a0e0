// What a playbook's ctx stands on: waits, commands, logs and state, each recorded as an event, and
// the step's deadline, which every wait and command respects.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "exec/executor.hpp"
#include "lua/cluster_binding.hpp"
#include "lua/vm.hpp"
#include "run/event.hpp"
#include "run/timeline.hpp"

namespace refit::run {

class RunHost final : public lua::MutationObserver {
 public:
  RunHost(lua::Vm& vm, EventBus& bus, Timeline& timeline, exec::Executor& executor)
      : vm_(vm), bus_(bus), timeline_(timeline), executor_(executor) {}

  // The running step's time limit (absolute), or none.
  void set_deadline(std::optional<std::int64_t> at, std::string step, std::int64_t timeout_ms);

  // Pushes the `host` table the stdlib's context module builds ctx from.
  void push_host_table(lua_State* L);

  // Counts every mutation made through playbook handles and by mutating commands.
  std::int64_t mutations() const { return mutations_; }

  void before_request() override { refuse_if_stopping(); }
  void before_mutation(const std::string& cluster, const std::string& verb, const cluster::ObjectRef& ref) override;
  void on_mutation(const std::string& cluster, const std::string& verb, const cluster::ObjectRef& ref,
                   const nlohmann::json* patch) override;

  // Phases that decide (check, when, done, pre) must not change the world: refit promises that a
  // failed check or precondition leaves it untouched. `phase` names the phase for the error.
  void set_read_only(const char* phase) { read_only_phase_ = phase; }

  // Whether ctx:write_file writes (refit apply) or only records what it would write (refit plan).
  void set_writes_files(bool writes) { writes_files_ = writes; }

  // ctx:connect on real clusters: the cluster a kubeconfig's text reaches (`name`: its cluster
  // entry). Without a connector, ctx:connect finds the world's cluster of that name (simulation).
  using Connector = std::function<cluster::Cluster*(const std::string& kubeconfig_text, const std::string& name)>;
  void set_connector(Connector connector) { connector_ = std::move(connector); }
  cluster::Cluster* connect(const std::string& kubeconfig_text, const std::string& name);

  EventBus& bus() { return bus_; }
  Timeline& timeline() { return timeline_; }

  // The primitives (called by the Lua glue; they throw lua::Error to fail the phase).
  void wait(const std::string& what, int predicate_index, std::int64_t timeout_ms, std::int64_t interval_ms);
  void sleep(std::int64_t ms);
  exec::Result exec(const exec::Request& request);
  void log(const std::string& level, const std::string& message);
  void state_set(const std::string& key, const nlohmann::json& value);
  void write_file(const std::string& path, const std::string& content);

 private:
  // A run asked to stop (an interrupt) makes no further call: the error ends the phase, and no
  // pcall of the playbook's can catch it.
  void refuse_if_stopping();
  // The earlier of `wanted` and the step deadline.
  std::int64_t bounded(std::int64_t wanted) const;
  [[noreturn]] void throw_deadline(const std::string& doing) const;

  lua::Vm& vm_;
  EventBus& bus_;
  Timeline& timeline_;
  exec::Executor& executor_;
  std::optional<std::int64_t> deadline_;
  std::string deadline_step_;
  std::int64_t deadline_timeout_ = 0;
  std::int64_t mutations_ = 0;
  const char* read_only_phase_ = nullptr;
  bool writes_files_ = false;
  Connector connector_;
  int wait_depth_ = 0;
  std::int64_t polls_ = 0;   // read-only commands run inside the current wait
};

}  // namespace refit::run
