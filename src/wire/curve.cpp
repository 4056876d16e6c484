// ZAP handler and handshake monitor (curve.hpp). ZAP: ZeroMQ RFC 27; socket monitor events:
// zmq_socket_monitor(3), two frames (6 bytes: uint16 event, uint32 value; then the endpoint).
#include "curve.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>
#include <zmq_addon.hpp>

#include "labloop/core/error.hpp"
#include "labloop/core/printable.hpp"

namespace labloop::detail {

void set_curve_key(zmq::socket_t& socket, int option, const Key32& key, const char* what) {
  if (zmq_setsockopt(socket.handle(), option, key.data(), key.size()) != 0)
    throw Error(fmt::format("cannot set the CURVE {} ({}); is libzmq built with CURVE (libsodium)?", what, zmq_strerror(zmq_errno())));
}

void set_client_keys(zmq::socket_t& socket, const InstrumentKeys& keys) {
  set_curve_key(socket, ZMQ_CURVE_SERVERKEY, keys.server.curve, "server key");
  set_curve_key(socket, ZMQ_CURVE_PUBLICKEY, keys.client.public_key.curve, "public key");
  set_curve_key(socket, ZMQ_CURVE_SECRETKEY, keys.client.curve_secret, "secret key");
}

bool curve_available() { return zmq_has("curve") != 0; }

}  // namespace labloop::detail

namespace labloop {

void check_key_pair(const KeyPair& pair, const std::filesystem::path& file) {
  const std::string secret = z85_encode(pair.curve_secret);
  char derived[41] = {};
  if (zmq_curve_public(derived, secret.c_str()) != 0) return;  // a libzmq without CURVE: nothing is encrypted with it
  if (std::string_view(derived, 40) != z85_encode(pair.public_key.curve))
    throw Error(fmt::format("key file {} is damaged: its secret-key does not give its public-key ({}), so a peer would be told the "
                            "keys do not match; restore the file from a copy, or make a new pair with `labloop keys new` and "
                            "replace the old public key wherever it was given",
                            file.string(), pair.public_key.fingerprint()));
}

KeyPair read_checked_key_pair(const std::filesystem::path& path) {
  KeyPair pair = read_key_pair(path);
  check_key_pair(pair, secret_key_path(path));
  return pair;
}

}  // namespace labloop

namespace labloop::detail {

ZapHandler::ZapHandler(zmq::context_t& context, std::filesystem::path allowed, Log log)
    : allowed_(std::move(allowed)), log_(std::move(log)), refusals_(log_), socket_(context, zmq::socket_type::rep) {
  socket_.set(zmq::sockopt::linger, 0);
  try {
    socket_.bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    throw Error(fmt::format("cannot start the CURVE access check (ZAP): {} (one serve() per ZeroMQ context)", e.what()));
  }
  thread_ = std::jthread([this](std::stop_token stop) { loop(stop); });
}

void ZapHandler::loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> request;
      if (!zmq::recv_multipart(socket_, std::back_inserter(request), zmq::recv_flags::dontwait)) continue;
      answer(request);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      if (e.num() != EINTR) log_(fmt::format("access check (ZAP): {}", e.what()));
    } catch (const std::exception& e) {  // thread boundary: never let an exception end the driver
      log_(fmt::format("access check (ZAP): {}", e.what()));
    }
  }
}

void ZapHandler::answer(std::vector<zmq::message_t>& request) {
  // version, request id, domain, address, identity, mechanism, credentials…
  auto reply = [&](const char* status, const std::string& text, const std::string& user) {
    const zmq::const_buffer id = request.size() > 1 ? zmq::const_buffer(request[1].data(), request[1].size()) : zmq::const_buffer();
    std::vector<zmq::const_buffer> frames{zmq::str_buffer("1.0"), id, zmq::buffer(std::string_view(status)), zmq::buffer(text),
                                          zmq::buffer(user), zmq::const_buffer()};
    zmq::send_multipart(socket_, frames);
  };
  if (request.size() < 6 || request[0].to_string_view() != "1.0") return reply("400", "malformed ZAP request", "");
  const std::string address = request[3].to_string();
  const std::string mechanism = request[5].to_string();
  if (mechanism != "CURVE" || request.size() < 7 || request[6].size() != 32) {
    refusals_.write("curve required", fmt::format("refused a {} connection from {}: this driver admits CURVE clients only", mechanism, address));
    return reply("400", "CURVE required", "");
  }
  Key32 key{};
  std::memcpy(key.data(), request[6].data(), key.size());
  const std::string fingerprint = key_fingerprint(key);
  std::vector<PublicKey> allowed;
  try {
    allowed = read_public_keys(allowed_);
  } catch (const std::exception& e) {
    refusals_.write("allow-list unreadable", fmt::format("refused controller key {} from {}: the allow-list cannot be read ({}); every controller is refused until it is fixed",
                     fingerprint, address, e.what()));
    return reply("500", "allow-list unreadable", "");
  }
  const auto found = std::find_if(allowed.begin(), allowed.end(), [&](const PublicKey& k) { return k.curve == key; });
  if (found == allowed.end()) {
    refusals_.write("key not allowed", fmt::format("refused controller key {} from {}: it is not in the allow-list {}", fingerprint, address, allowed_.string()));
    return reply("400", "key not in the allow-list", "");
  }
  log_(fmt::format("admitted controller key {} ({}) from {}", fingerprint, printable(found->name), printable(address)));
  // The User-Id of every message on this connection: exclusive control (lease.hpp) knows the
  // controller by it, so it is the fingerprint, which no message can forge, not the file's name.
  reply("200", "OK", fingerprint);
}

HandshakeMonitor::HandshakeMonitor(zmq::context_t& context, zmq::socket_t& socket, int also) : pair_(context, zmq::socket_type::pair) {
  static std::atomic<unsigned long> counter{0};
  const std::string address = fmt::format("inproc://labloop-handshake-{}-{}", static_cast<const void*>(this), counter++);
  const int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                     ZMQ_EVENT_HANDSHAKE_SUCCEEDED | also;
  if (zmq_socket_monitor(socket.handle(), address.c_str(), events) != 0)
    throw Error(fmt::format("cannot monitor a socket's handshakes: {}", zmq_strerror(zmq_errno())));
  pair_.set(zmq::sockopt::linger, 0);
  pair_.connect(address);
}

std::optional<HandshakeMonitor::Event> HandshakeMonitor::next() {
  std::vector<zmq::message_t> frames;
  if (!zmq::recv_multipart(pair_, std::back_inserter(frames), zmq::recv_flags::dontwait)) return std::nullopt;
  if (frames.size() < 2 || frames[0].size() != 6) return std::nullopt;
  Event event;
  std::uint16_t kind = 0;
  std::uint32_t value = 0;
  std::memcpy(&kind, frames[0].data(), 2);
  std::memcpy(&value, static_cast<const char*>(frames[0].data()) + 2, 4);
  event.event = kind;
  event.value = static_cast<int>(value);
  event.address = frames[1].to_string();
  return event;
}

std::string protocol_error_text(int code) {
  switch (code) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: return "security mechanism mismatch: one side encrypts (CURVE), the other does not";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: return "cryptographic error: the keys do not match";
    default: return fmt::format("ZMTP protocol error 0x{:x}", static_cast<unsigned>(code));
  }
}

}  // namespace labloop::detail
