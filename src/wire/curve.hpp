#pragma once
// CurveZMQ plumbing shared by the controller's link (instrument.cpp) and serve() (driver.cpp):
// a ZAP handler that admits the controller keys of an allow-list, and a socket monitor that
// reports failed handshakes, so a refused connection is an error with a reason and not silence.
#include <zmq.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "labloop/core/key_file.hpp"
#include "labloop/wire/instrument_keys.hpp"
#include "log_limiter.hpp"

namespace labloop::detail {

// Sets a socket option holding a 32-byte key; throws Error naming `what` when libzmq refuses
// (a libzmq built without CURVE).
void set_curve_key(zmq::socket_t& socket, int option, const Key32& key, const char* what);

// A client socket's keys (the driver's public key, this controller's pair): the controller's
// link and `labloop driver-check` set them alike. Throws as set_curve_key.
void set_client_keys(zmq::socket_t& socket, const InstrumentKeys& keys);

// True when libzmq was built with CURVE (zmq_has("curve")).
bool curve_available();

// ZAP (ZeroMQ RFC 27) on inproc://zeromq.zap.01 of `context`, on a thread of its own: every
// CURVE handshake on a server socket of that context asks it. It re-reads the allow-list (a .pub
// file or a directory of them, core/key_file.hpp) at every handshake, without caching, so a key
// removed from it (`labloop keys revoke`) is refused from its next connection; a handshake
// already costs a key exchange, and the list holds at most kMaxAllowedKeys files. A list that
// cannot be read refuses everyone (status 500) and says why in the log: it fails closed. Each
// refusal is logged with the key's fingerprint (at most one a second of each kind, log_limiter.hpp);
// each admission too (who connected, for the log).
// One per context (the address is fixed by ZeroMQ). The constructor binds, so handshakes after it
// returns find the handler; the destructor stops and joins the thread before the socket closes.
class ZapHandler {
 public:
  using Log = std::function<void(const std::string&)>;
  ZapHandler(zmq::context_t& context, std::filesystem::path allowed, Log log);
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

 private:
  void loop(std::stop_token stop);
  void answer(std::vector<zmq::message_t>& request);

  std::filesystem::path allowed_;
  Log log_;
  LogLimiter refusals_;  // a client refused at every connection must not fill the disk
  zmq::socket_t socket_;
  std::jthread thread_;  // last: stopped and joined before the socket closes
};

// Handshake events of one socket (zmq_socket_monitor over a private inproc PAIR). Start it
// before connect/bind so no event is missed. Not thread-safe: the socket's owner polls it.
class HandshakeMonitor {
 public:
  struct Event {
    int event = 0;      // ZMQ_EVENT_HANDSHAKE_*
    int value = 0;      // protocol error code (…_PROTOCOL), ZAP status (…_AUTH) or errno
    std::string address;
  };
  // `also`: further ZMQ_EVENT_* to report (e.g. ZMQ_EVENT_DISCONNECTED).
  HandshakeMonitor(zmq::context_t& context, zmq::socket_t& socket, int also = 0);
  // The next event already queued, or nothing.
  std::optional<Event> next();
  void* handle() { return pair_.handle(); }

 private:
  zmq::socket_t pair_;
};

// "mechanism mismatch" and the like, for messages.
std::string protocol_error_text(int code);

}  // namespace labloop::detail
