#include "labloop/wire/instrument.hpp"

#include <fmt/format.h>

#include "labloop/core/error.hpp"
#include "labloop/wire/protocol.hpp"
#include "labloop/core/version.hpp"

namespace labloop {

Instrument::Instrument(zmq::context_t& context, std::string name, std::string endpoint, InstrumentTiming timing, Log log)
    : context_(context), name_(std::move(name)), endpoint_(std::move(endpoint)), timing_(timing), log_(std::move(log)) {
  connect();
  last_heard_ = last_ping_ = Clock::now();
}

void Instrument::connect() {
  socket_ = zmq::socket_t(context_, zmq::socket_type::dealer);
  // A last `abort` sent just before the campaign ends must still leave; a dead driver may delay
  // shutdown by at most this much.
  socket_.set(zmq::sockopt::linger, 250);
  // Frames over 1 MiB are read and refused by decode() with a log line; past this limit ZeroMQ
  // drops the connection instead of reading it (memory), and relink() makes a new one.
  socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(kMaxFrameBytes));
  try {
    socket_.connect(endpoint_);
  } catch (const zmq::error_t& e) {
    throw InstrumentError(name_, fmt::format("cannot connect to {}: {}", endpoint_, e.what()));
  }
}

void Instrument::relink() {
  ++relinks_;
  socket_.set(zmq::sockopt::linger, 0);  // what the old connection still holds is re-sent by id later
  connect();
}

void Instrument::send(const protocol::Message& message) {
  // A DEALER queues while disconnected; with a full queue dontwait fails rather than hang the loop.
  // Logged once per outage, not once per heartbeat.
  if (socket_.send(zmq::buffer(protocol::encode(message)), zmq::send_flags::dontwait)) {
    dropping_ = false;
  } else if (!dropping_) {
    dropping_ = true;
    log_(fmt::format("{}: send queue full, message dropped ({}); more may follow until it answers again", name_, protocol::type_name(message)));
  }
}

std::optional<protocol::Message> Instrument::receive(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    zmq::message_t frame;
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    try {
      zmq::poll(&item, 1, std::max(left, std::chrono::milliseconds(0)));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      return std::nullopt;
    }
    if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
    if (!socket_.recv(frame, zmq::recv_flags::dontwait)) return std::nullopt;
    // A driver replying through a REQ-style envelope may add an empty delimiter: skip it.
    while (frame.more() && frame.size() == 0) {
      if (!socket_.recv(frame, zmq::recv_flags::dontwait)) return std::nullopt;
    }
    bool extra = false;
    while (frame.more()) {  // drain any further frames of a multi-frame message
      zmq::message_t rest;
      if (!socket_.recv(rest, zmq::recv_flags::dontwait)) break;
      extra = true;
      if (!rest.more()) break;
    }
    try {
      if (extra) throw ProtocolError("bad_message", "message has more than one frame");
      protocol::Message message = protocol::decode(std::string_view(static_cast<const char*>(frame.data()), frame.size()));
      if (std::holds_alternative<protocol::Pong>(message) || std::holds_alternative<protocol::Welcome>(message)) last_heard_ = Clock::now();
      return message;
    } catch (const ProtocolError& e) {
      ++malformed_;
      last_malformed_ = e.what();
      log_(fmt::format("{}: ignored a malformed message ({}): {}", name_, e.code(), e.what()));
    }
    if (Clock::now() >= deadline) return std::nullopt;
  }
}

const InstrumentInfo& Instrument::hello(const std::string& campaign, const std::function<void()>& check) {
  send(protocol::Hello{fmt::format("labloop {}", kVersion), campaign});
  const auto deadline = Clock::now() + timing_.connect_timeout;
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    last_malformed_.clear();
    auto message = receive(std::min(left, std::chrono::milliseconds(200)));
    if (check) check();
    // decode() names the message type first ("welcome: \"capacity\" must be …"): a driver that
    // answers with a broken welcome is told so, not reported as silent.
    if (last_malformed_.rfind("welcome:", 0) == 0) throw InstrumentError(name_, fmt::format("sent a malformed welcome: {}", last_malformed_));
    if (!message) continue;
    if (const auto* welcome = std::get_if<protocol::Welcome>(&*message)) {
      try {
        info_ = protocol::parse_welcome(*welcome);
      } catch (const ProtocolError& e) {
        throw InstrumentError(name_, fmt::format("sent a malformed welcome: {}", e.what()));
      }
      last_heard_ = Clock::now();
      return info_;
    }
    if (const auto* error = std::get_if<protocol::Error>(&*message))
      throw InstrumentError(name_, fmt::format("refused hello: {} ({})", error->message, error->code));
    log_(fmt::format("{}: ignored a {} message while waiting for welcome", name_, protocol::type_name(*message)));
  }
  throw InstrumentError(name_, fmt::format("no answer from {} within {:.0f} s; is its driver running and bound to that endpoint?",
                                           endpoint_, std::chrono::duration<double>(timing_.connect_timeout).count()));
}

void Instrument::ping_if_due(Clock::time_point now) {
  if (now - last_ping_ < timing_.heartbeat) return;
  last_ping_ = now;
  send(protocol::Ping{});
}

bool Instrument::silent(Clock::time_point now) const { return now - last_heard_ > timing_.heartbeat * timing_.heartbeat_misses; }

}  // namespace labloop
