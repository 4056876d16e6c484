#include "labloop/wire/instrument.hpp"

#include "labloop/wire/endpoint.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <utility>

#include "labloop/core/error.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/utc_time.hpp"
#include "labloop/wire/protocol.hpp"
#include "labloop/core/version.hpp"
#include "curve.hpp"

namespace labloop {

namespace {

// True unless the endpoint stays on this machine: ipc:// and inproc://, or tcp:// to localhost or
// a numeric loopback address (127.x.y.z in any form the resolver reads, 0.0.0.0, ::1). A name that merely starts with "127."
// (tcp://127.attacker.example) is a host name like any other, resolved by whoever answers for it.
bool leaves_this_machine(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return false;  // local by construction
  if (endpoint.rfind("tcp://", 0) != 0) return true;                                           // ws://, pgm://, …: a network
  std::string host = endpoint.substr(6);
  if (const auto semicolon = host.find(';'); semicolon != std::string::npos) host = host.substr(semicolon + 1);  // source;dest
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') == std::string::npos ? std::string::npos : host.find(']') - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  return !loopback_host(host);
}

}  // namespace

Instrument::Instrument(zmq::context_t& context, std::string name, std::string endpoint, InstrumentTiming timing, Log log,
                       std::optional<InstrumentKeys> keys)
    : context_(context), name_(std::move(name)), endpoint_(std::move(endpoint)), timing_(timing), log_(std::move(log)), keys_(std::move(keys)) {
  if (keys_ && !detail::curve_available())
    throw InstrumentError(name_, "has a security section, but this libzmq has no CURVE support (install libzmq built with libsodium)");
  if (!keys_ && leaves_this_machine(endpoint_))
    log_(fmt::format("warning: instrument {} at {} is not encrypted: anyone on that network can read its messages and send it "
                     "their own; give it a \"security\" section (docs/security.md)",
                     name_, endpoint_));
  connect();
  last_heard_ = last_ping_ = Clock::now();
}

Instrument::~Instrument() = default;

void Instrument::connect() {
  socket_ = zmq::socket_t(context_, zmq::socket_type::dealer);
  // A last `abort` sent just before the campaign ends must still leave; a dead driver may delay
  // shutdown by at most this much.
  socket_.set(zmq::sockopt::linger, 250);
  // Frames over 1 MiB are read and refused by decode() with a log line; past this limit ZeroMQ
  // drops the connection instead of reading it (memory), and relink() makes a new one.
  socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(kMaxFrameBytes));
  socket_.set(zmq::sockopt::rcvhwm, kReceiveQueue);
  if (keys_) detail::set_client_keys(socket_, *keys_);
  // Before connecting, so no handshake goes unseen.
  monitor_ = std::make_unique<detail::HandshakeMonitor>(context_, socket_, ZMQ_EVENT_DISCONNECTED);
  silent_closes_ = 0;
  handshakes_ = 0;
  up_ = false;
  news_ = {};
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

bool Instrument::connection_up() {
  check_handshake();
  return up_;
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

void Instrument::check_handshake() {
  while (auto event = monitor_->next()) {
    if (event->event == ZMQ_EVENT_DISCONNECTED) {
      up_ = false;
      if (handshakes_ > 0) news_.dropped = true;  // a connection that was made, not a refused handshake
      continue;
    }
    if (event->event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      if (!refusal_.empty()) log_(fmt::format("{}: handshake succeeded again", name_));
      refusal_.clear();
      key_refused_ = false;
      silent_closes_ = 0;
      up_ = true;
      if (++handshakes_ > 1) news_.reconnected = true;
      continue;
    }
    // A driver that closes the connection during the handshake without a word: once may be a
    // driver stopping at that moment; twice in a row, with keys, is a CURVE server that could not
    // read our hello, i.e. its key is not the one we encrypt to. Without keys it is a CURVE
    // server that read our plaintext greeting before we read its own (which side sees the
    // mechanism mismatch first is a race, and under load we may lose it every time).
    if (event->event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && ++silent_closes_ < 2) continue;
    key_refused_ = event->event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && event->value == 400;
    std::string text = refusal_text(event->event, event->value);
    if (text != refusal_) log_(fmt::format("{}: {}", name_, text));
    refusal_ = std::move(text);
  }
}

std::string Instrument::refusal_text(int event, int value) const {
  const std::string mine = keys_ ? keys_->client.public_key.fingerprint() : std::string();
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    if (value == 400)
      return fmt::format("refused this controller's key {}: it is not in the driver's allow-list (add this controller's .pub file "
                         "to the directory the driver's --allowed names; docs/security.md)",
                         mine);
    if (value == 500)
      return fmt::format("could not check this controller's key {}: the driver cannot read its allow-list (see the driver's log)", mine);
    return fmt::format("refused this controller's key {} (access check status {})", mine, value);
  }
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
    if (!keys_)
      return "requires encryption: give it a security section (\"server_public_key\" and \"client_keys\"; docs/security.md)";
    return "does not encrypt, but its security section asks for it: start its driver with its key pair and allow-list "
           "(--key, --allowed), or remove the security section";
  }
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && keys_)
    return fmt::format("closed the connection during the encrypted handshake: its key does not match server_public_key ({}); "
                       "name the .pub file its driver was started with",
                       keys_->server.fingerprint());
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    return "closed the connection during the handshake twice in a row: it may not be a labloop driver (is the endpoint right? a web "
           "server or another program there closes as soon as it reads what we send), or it requires encryption: give it a security "
           "section (\"server_public_key\" and \"client_keys\"; docs/security.md)";
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) return fmt::format("the handshake failed ({})", detail::protocol_error_text(value));
  return fmt::format("the handshake failed (error {})", value);
}

bool Instrument::adopt_holder(const std::optional<protocol::Holder>& named) {
  if (!named) return false;
  if (!hello_.campaign_id || named->campaign_id != *hello_.campaign_id) {
    log_(fmt::format("{}: its welcome names campaign {} as its holder, not this one; taken as not held", name_,
                     printable(protocol::truncate_utf8(named->campaign_id, 64))));
    return false;
  }
  protocol::Holder held = *named;
  const std::string mine = keys_ ? keys_->client.public_key.fingerprint() : std::string();
  if (held.controller && *held.controller != mine) {
    log_(fmt::format("{}: its welcome names {} as the holder's key, but this link {}; that key is not recorded", name_, *held.controller,
                     keys_ ? fmt::format("authenticated with {}", mine) : std::string("is not encrypted")));
    held.controller.reset();
  }
  if (held.since.empty()) held.since = utc_now_iso();
  holder_ = std::move(held);
  return true;
}

std::optional<protocol::Message> Instrument::receive(std::chrono::milliseconds timeout) {
  check_handshake();
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
      if (std::holds_alternative<protocol::Pong>(message) || std::holds_alternative<protocol::Welcome>(message)) note_alive();
      return message;
    } catch (const ProtocolError& e) {
      ++malformed_;
      last_malformed_ = e.what();
      log_(fmt::format("{}: ignored a malformed message ({}): {}", name_, e.code(), e.what()));
    }
    if (Clock::now() >= deadline) return std::nullopt;
  }
}

const InstrumentInfo& Instrument::hello(const std::string& campaign, const std::function<void()>& check,
                                        const std::optional<std::string>& campaign_id) {
  hello_ = protocol::Hello{fmt::format("labloop {}", kVersion), campaign, campaign_id};
  busy_answer_.clear();
  send(hello_);
  const auto deadline = Clock::now() + timing_.connect_timeout;
  std::string malformed_answer;  // what decode() said of the last malformed message since the hello
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    last_malformed_.clear();
    auto message = receive(std::min(left, std::chrono::milliseconds(100)));
    // Not once the welcome is here: the check may end the wait (a stop asked meanwhile), not an answer.
    if (check && !(message && std::holds_alternative<protocol::Welcome>(*message))) check();
    check_handshake();
    // Nothing runs on a refused instrument: the campaign stops before its first experiment.
    if (!message && !refusal_.empty()) throw InstrumentError(name_, refusal_);
    // decode() names the message type first ("welcome: \"capacity\" must be …"): a driver that
    // answers with a broken welcome is told so, not reported as silent.
    if (last_malformed_.rfind("welcome:", 0) == 0) throw InstrumentError(name_, fmt::format("sent a malformed welcome: {}", last_malformed_));
    if (!last_malformed_.empty()) malformed_answer = last_malformed_;
    if (!message) continue;
    if (const auto* welcome = std::get_if<protocol::Welcome>(&*message)) {
      try {
        info_ = protocol::parse_welcome(*welcome);
      } catch (const ProtocolError& e) {
        throw InstrumentError(name_, fmt::format("sent a malformed welcome: {}", e.what()));
      }
      // Only a holder naming this campaign is ours: a driver's welcome is its own word, and one
      // naming another campaign (or sent to a campaign that asked for no hold) is no grant to us.
      holder_.reset();
      adopt_holder(welcome->holder);
      note_alive();
      news_ = {};  // the welcome answers whatever connection it came over
      return info_;
    }
    if (const auto* error = std::get_if<protocol::Error>(&*message)) {
      // Never retried in a loop: someone has to end the other campaign, or wait for it.
      if (error->code == protocol::kBusy && campaign_id && error->message.find("campaign " + *campaign_id) != std::string::npos)
        throw InstrumentError(name_, fmt::format("is held by this campaign, but under another controller key: {} (driver at {}). "
                                                 "Resume with the key it was started with (its security section's client_keys)",
                                                 error->message, endpoint_));
      if (error->code == protocol::kBusy) {
        busy_answer_ = protocol::truncate_utf8(error->message, 200);
        throw InstrumentError(name_, fmt::format("is in use by another campaign and cannot be used: {} (driver at {}). Wait for that "
                                                 "campaign to end, or stop it (its own `labloop resume` takes the instrument back); one "
                                                 "that has ended still holding it (its driver was down when it stopped) gives it back "
                                                 "with `labloop release` on its folder",
                                                 error->message, endpoint_));
      }
      throw InstrumentError(name_, fmt::format("refused hello: {} ({})", error->message, error->code));
    }
    log_(fmt::format("{}: ignored a {} message while waiting for welcome", name_, protocol::type_name(*message)));
  }
  // A driver whose welcome is not JSON (Python's json.dumps writes NaN and Infinity, which JSON
  // has not) did answer: say what was wrong with it rather than that nothing came.
  if (!malformed_answer.empty())
    throw InstrumentError(name_, fmt::format("answered {} within {:.0f} s only with malformed messages, the last: {} (docs/protocol.md §2)",
                                             endpoint_, std::chrono::duration<double>(timing_.connect_timeout).count(), malformed_answer));
  check_handshake();
  // Connected, then cut off: ZeroMQ drops a connection that brings a frame over kMaxFrameBytes.
  if (news_.dropped)
    throw InstrumentError(name_, fmt::format("connected to {}, but the connection was closed and no welcome came within {:.0f} s: the "
                                             "driver stopped, or sent a message over {} MiB, which is not read (docs/protocol.md §7)",
                                             endpoint_, std::chrono::duration<double>(timing_.connect_timeout).count(), kMaxFrameBytes >> 20));
  // A ZeroMQ peer is there (its handshake succeeded) but said nothing to hello: not "is it running".
  if (handshakes_ > 0)
    throw InstrumentError(name_, fmt::format("connected to {}, but no welcome came within {:.0f} s: the program there speaks ZeroMQ but "
                                             "did not answer labloop's hello (is it a labloop driver, protocol v1, and past its start-up? "
                                             "`labloop driver-check {}` tells more)",
                                             endpoint_, std::chrono::duration<double>(timing_.connect_timeout).count(), endpoint_));
  throw InstrumentError(name_, fmt::format("no answer from {} within {:.0f} s; is its driver running and bound to that endpoint?",
                                           endpoint_, std::chrono::duration<double>(timing_.connect_timeout).count()));
}

Instrument::ConnectionNews Instrument::take_connection_news() {
  check_handshake();
  return std::exchange(news_, {});
}

std::string Instrument::last_malformed() const { return protocol::truncate_utf8(last_malformed_, kMostMalformedChars); }

void Instrument::note_alive() {
  last_heard_ = Clock::now();
  unanswered_pings_ = 0;
}

void Instrument::ping_if_due(Clock::time_point now) {
  if (now - last_ping_ < timing_.heartbeat) return;
  last_ping_ = now;
  unanswered_pings_ = std::min(unanswered_pings_ + 1, timing_.heartbeat_misses);  // only compared with misses: bounded
  send(protocol::Ping{});
}

// Both conditions: time alone would count a pause of the controller itself (a long planner step,
// a loaded machine), during which it asked nothing, as the driver's silence.
bool Instrument::silent(Clock::time_point now) const {
  return unanswered_pings_ >= timing_.heartbeat_misses && now - last_heard_ > timing_.heartbeat * timing_.heartbeat_misses;
}

}  // namespace labloop
