#pragma once
// A deliberately misbehaving driver for fault tests: a ROUTER on its own thread whose answers
// come from a callback, raw bytes and all, so tests can send garbage, go silent, or lie.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace labloop::test {

class FakeDriver {
 public:
  // Gets each request's payload (raw) and returns the payloads to send back to its sender.
  using Behaviour = std::function<std::vector<std::string>(const std::string& payload)>;
  // The same, with the sender's routing identity first: a fake that tells connections apart.
  using RoutedBehaviour = std::function<std::vector<std::string>(const std::string& identity, const std::string& payload)>;

  FakeDriver(const std::string& endpoint, Behaviour behaviour)
      : FakeDriver(endpoint, RoutedBehaviour([behaviour = std::move(behaviour)](const std::string&, const std::string& payload) {
          return behaviour(payload);
        })) {}
  FakeDriver(const std::string& endpoint, RoutedBehaviour behaviour) : behaviour_(std::move(behaviour)) {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind(endpoint);
    thread_ = std::jthread([this](std::stop_token stop) { serve(stop); });
  }
  ~FakeDriver() {
    thread_.request_stop();
    thread_.join();
  }

  // A welcome for inputs x1 in [-5,10], x2 in [0,15] and output y (Branin's box).
  static std::string welcome(int capacity = 1) {
    return nlohmann::json{{"v", 1}, {"type", "welcome"}, {"driver", "fake"}, {"version", "0"},
                          {"inputs", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                                      {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
                          {"outputs", {"y"}}, {"capacity", capacity}}
        .dump();
  }
  static std::string type_of(const std::string& payload) { return text_of(payload, "type"); }
  static std::string experiment_of(const std::string& payload) { return text_of(payload, "experiment"); }
  // A string field of a JSON object; "" for anything else (a number where a string belongs too).
  static std::string text_of(const std::string& payload, const char* field) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (!j.is_object() || !j.contains(field) || !j[field].is_string()) return "";
    return j[field].get<std::string>();
  }

 private:
  void serve(std::stop_token stop) {
    while (!stop.stop_requested()) {
      zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(router_, std::back_inserter(frames))) continue;
      if (frames.size() < 2) continue;
      for (const auto& reply : behaviour_(frames.front().to_string(), frames.back().to_string())) {
        router_.send(zmq::buffer(frames.front().to_string()), zmq::send_flags::sndmore);
        router_.send(zmq::buffer(reply), zmq::send_flags::none);
      }
    }
  }

  RoutedBehaviour behaviour_;
  zmq::context_t context_;
  zmq::socket_t router_{context_, zmq::socket_type::router};
  std::jthread thread_;
};

}  // namespace labloop::test
