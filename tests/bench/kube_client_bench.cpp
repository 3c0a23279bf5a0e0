// make bench: refit's Kubernetes API client against `refit sim serve` (docs/performance.md).
//
//   kube_client_bench KUBECONFIG CONTEXT GETS
//
// Prints (one "key value" per line, for run.sh): the median, p99 and total of GETS sequential gets
// of one Deployment; the time to list every Node and convert the list into Lua tables (the first list
// and the median of the next six); and how many requests a 60-second ctx:wait-style wait on an object
// that never becomes ready sends.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "cluster/kube/kube_world.hpp"
#include "cluster/kube/kubeconfig.hpp"
#include "lua/cluster_binding.hpp"
#include "lua/lua.hpp"
#include "lua/vm.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kLists = 7;  // the first and six warm ones: the median of the six

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// CPU time in ms, of this process (all its threads: the list's read-ahead receives pages on one) or of
// this thread (the one that parses pages and builds the Lua tables). Of a list's wall time, what the
// calling thread did not spend working it spent waiting: for the server, or for a core.
double cpu_ms(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: kube_client_bench KUBECONFIG CONTEXT GETS\n");
    return 1;
  }
  const std::string kubeconfig = argv[1], context = argv[2];
  const int gets = std::stoi(argv[3]);
  try {
    refit::kube::KubeWorld world;
    auto& cluster = world.add_cluster("bench", refit::kube::Kubeconfig::load(kubeconfig).endpoint(context));
    const refit::cluster::ObjectRef deployment{"apps/v1", "Deployment", "shop", "web-1"};

    // 1. Sequential gets, as a playbook's reads are: one connection, reused.
    std::size_t bytes = 0;
    cluster.get(deployment, [&](const nlohmann::json& obj) { bytes = obj.dump().size(); });  // discovery, connection
    std::vector<double> times;
    times.reserve(gets);
    const auto all = Clock::now();
    for (int i = 0; i < gets; ++i) {
      const auto start = Clock::now();
      bool found = cluster.get(deployment, [](const nlohmann::json&) {});
      times.push_back(ms_since(start));
      if (!found) throw std::runtime_error("Deployment shop/web-1 not found");
    }
    const double total = ms_since(all);
    std::sort(times.begin(), times.end());
    std::printf("get_object_bytes %zu\n", bytes);
    std::printf("get_median_ms %.3f\n", times[times.size() / 2]);
    std::printf("get_p99_ms %.3f\n", times[times.size() * 99 / 100]);
    std::printf("get_total_ms %.1f\n", total);

    // 2. Every Node into Lua through c:list { kind = "Node" }, in a VM set up as a playbook's is (its
    // allocator and collector). The first list is the served world's first (it serialises every
    // Node); the next ones find the server's JSON of each Node cached, as a real API server's watch
    // cache answers, so they measure the client.
    refit::lua::Vm vm;
    lua_State* L = vm.state();
    if (luaL_loadstring(L, "local c = ... return #c:list { kind = \"Node\" }") != LUA_OK) {
      throw std::runtime_error(lua_tostring(L, -1));
    }
    const int chunk = lua_gettop(L);
    std::vector<double> lists, cpu, thread_cpu;
    lua_Integer n = 0;
    for (int i = 0; i < kLists; ++i) {
      lua_pushvalue(L, chunk);
      refit::lua::push_cluster_handle(L, &cluster, nullptr);
      const auto list_start = Clock::now();
      const double cpu_start = cpu_ms(CLOCK_PROCESS_CPUTIME_ID), thread_start = cpu_ms(CLOCK_THREAD_CPUTIME_ID);
      if (auto error = vm.pcall(1, 1)) throw std::runtime_error(error->message);
      lists.push_back(ms_since(list_start));
      cpu.push_back(cpu_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu_start);
      thread_cpu.push_back(cpu_ms(CLOCK_THREAD_CPUTIME_ID) - thread_start);
      n = lua_tointeger(L, -1);
      lua_pop(L, 1);
      lua_gc(L, LUA_GCCOLLECT);  // the last list's tables are garbage: collect them outside the timing
    }
    std::vector<double> warm(lists.begin() + 1, lists.end());
    std::sort(warm.begin(), warm.end());
    std::printf("list_nodes %lld\n", static_cast<long long>(n));
    std::printf("list_nodes_first_ms %.1f\n", lists.front());
    std::printf("list_nodes_first_thread_cpu_ms %.1f\n", thread_cpu.front());
    std::printf("list_nodes_warm_ms %.1f\n", warm[warm.size() / 2]);
    std::printf("list_nodes_warm_min_ms %.1f\n", warm.front());
    std::printf("list_nodes_warm_max_ms %.1f\n", warm.back());
    std::printf("list_nodes_warm_client_cpu_ms %.1f\n", median_of({cpu.begin() + 1, cpu.end()}));
    std::printf("list_nodes_warm_thread_cpu_ms %.1f\n", median_of({thread_cpu.begin() + 1, thread_cpu.end()}));

    // 3. A 60-second wait (in the served world's time) that never succeeds, polled every 5 s as
    // ctx:wait polls: its reads come from a watch.
    const std::uint64_t before = cluster.requests_sent();
    const std::int64_t deadline = world.now() + 60'000;
    int evaluations = 0;
    world.wait_began();
    for (;;) {
      ++evaluations;
      cluster.get(deployment, [](const nlohmann::json&) {});
      cluster.get({"apps/v1", "Deployment", "shop", "web-1"}, [](const nlohmann::json&) {});
      if (world.now() >= deadline) break;
      world.advance_to(std::min(world.now() + 5'000, deadline));
    }
    world.wait_ended();
    std::printf("wait_world_ms 60000\n");
    std::printf("wait_evaluations %d\n", evaluations);
    std::printf("wait_requests %llu\n", static_cast<unsigned long long>(cluster.requests_sent() - before));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kube_client_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
