#include "serving_pool.hpp"

#include <utility>

namespace labloop::cli {

ServingPool::ServingPool(std::size_t kept, std::size_t most, std::chrono::milliseconds linger)
    : kept_(kept), most_(most < kept ? kept : most), linger_(linger) {}

ServingPool::~ServingPool() { shutdown(); }

void ServingPool::run(std::function<void()> job) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;  // httplib gives no job after shutdown; one given anyway is dropped, not run on a joined pool
  jobs_.push_back(std::move(job));
  // Idle workers may already be woken for earlier jobs: a new thread only when the jobs waiting
  // outnumber them.
  if (jobs_.size() > idle_ && running_ < most_) {
    join_ended();
    Worker& worker = workers_.emplace_back();
    ++running_;
    worker.thread = std::thread([this, &worker] { work(worker); });
  } else {
    wake_.notify_one();
  }
}

void ServingPool::work(Worker& self) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (jobs_.empty()) {
      if (stopping_) break;
      ++idle_;
      const bool woken = wake_.wait_for(lock, linger_, [this] { return !jobs_.empty() || stopping_; });
      --idle_;
      if (!woken && running_ > kept_) break;  // a burst is over: leave only `kept` behind
      continue;
    }
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
  --running_;
  self.ended = true;  // joined by the next run() or by shutdown()
}

void ServingPool::join_ended() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->ended) {
      it->thread.join();  // it has left work(): returns at once
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void ServingPool::shutdown() {
  std::list<Worker> workers;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
    workers.swap(workers_);
  }
  // A worker touches only its own Worker after taking the lock: swapped out, the nodes stay where they are.
  for (Worker& worker : workers)
    if (worker.thread.joinable()) worker.thread.join();
}

std::size_t ServingPool::threads() const {
  std::lock_guard lock(mutex_);
  return running_;
}

std::size_t ServingPool::waiting() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

}  // namespace labloop::cli
