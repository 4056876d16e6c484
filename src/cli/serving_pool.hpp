#pragma once
// The threads that serve the console's connections. httplib serves each connection on one thread
// from its first byte to its close, and a connection that sends nothing holds that thread until
// its read times out (seconds). A fixed pool of 32 let a program on this machine holding a few
// hundred idle connections delay every page's answers by 11 to 16 s (docs/console.md). This pool
// starts another thread when a connection comes and none is free, up to `most`, so idle
// connections delay others only past that many; threads beyond `kept` end after `linger` without
// work, so a burst leaves nothing behind.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace labloop::cli {

class ServingPool {
 public:
  ServingPool(std::size_t kept, std::size_t most, std::chrono::milliseconds linger = std::chrono::seconds(10));
  ServingPool(const ServingPool&) = delete;
  ServingPool& operator=(const ServingPool&) = delete;
  ~ServingPool();  // shutdown()

  // Runs `job` on a free thread, a new one when none is free and fewer than `most` run, or else
  // on the first to become free.
  void run(std::function<void()> job);
  // Runs every job already given, then ends and joins every thread. Idempotent.
  void shutdown();

  std::size_t threads() const;  // threads running now
  std::size_t waiting() const;  // jobs given and not started

 private:
  struct Worker {
    std::thread thread;
    bool ended = false;
  };
  void work(Worker& self);
  void join_ended();  // with mutex_ held

  const std::size_t kept_, most_;
  const std::chrono::milliseconds linger_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::list<Worker> workers_;  // std::list: a worker's address stays valid while others come and go
  std::size_t running_ = 0;    // workers not ended
  std::size_t idle_ = 0;       // workers waiting for a job
  bool stopping_ = false;
};

}  // namespace labloop::cli
