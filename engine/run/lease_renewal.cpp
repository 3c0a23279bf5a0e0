#include "run/lease_renewal.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace refit::run {

namespace {

class ThreadRenewal final : public LeaseRenewal {
 public:
  ThreadRenewal(LeaseKeeper& keeper, const LeaseConnector& connect) : keeper_(keeper) {
    auto pause = [this](std::int64_t ms) {
      std::unique_lock lock(mutex_);
      stopped_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
    };
    for (const auto& target : keeper.targets()) own_.push_back(connect(target.first, pause));
    for (const auto& c : own_) connections_.push_back(c.get());
    thread_ = std::thread([this] { loop(); });
  }

  ~ThreadRenewal() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    stopped_.notify_all();
    thread_.join();
  }

 private:
  void loop() {
    const auto interval = std::chrono::milliseconds(keeper_.renew_interval_ms());
    std::unique_lock lock(mutex_);
    while (!stopped_.wait_for(lock, interval, [this] { return stop_; })) {
      lock.unlock();
      keeper_.renew(connections_);
      lock.lock();
    }
  }

  LeaseKeeper& keeper_;
  std::vector<std::unique_ptr<cluster::Cluster>> own_;
  std::vector<cluster::Cluster*> connections_;
  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

RenewalStarter renew_from_thread(LeaseConnector connect) {
  return [connect = std::move(connect)](LeaseKeeper& keeper) -> std::unique_ptr<LeaseRenewal> {
    return std::make_unique<ThreadRenewal>(keeper, connect);
  };
}

}  // namespace refit::run
