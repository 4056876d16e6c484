#pragma once
// The controller's side of one driver: a DEALER socket connected to the driver's ROUTER, the
// hello/welcome handshake, and heartbeat bookkeeping. Not thread-safe: one campaign loop owns it.
//
// With InstrumentKeys the link is encrypted and authenticated with CURVE (docs/security.md). A
// refused handshake is watched for (a socket monitor) and turned into an InstrumentError by
// hello() that says why — this controller's key is not in the driver's allow-list, the driver
// requires encryption, or the driver's key is not server_public_key — instead of a timeout.
// Without keys, a tcp endpoint that is not loopback gets one warning in the log at construction.
#include <chrono>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "labloop/wire/instrument_info.hpp"
#include "labloop/wire/instrument_keys.hpp"
#include "labloop/wire/protocol.hpp"

namespace labloop {

namespace detail {
class HandshakeMonitor;
}

struct InstrumentTiming {
  std::chrono::milliseconds connect_timeout{10000};  // how long to wait for `welcome`
  std::chrono::milliseconds heartbeat{1000};         // ping interval
  int heartbeat_misses = 5;                          // silent intervals before the driver counts as lost
};

class Instrument {
 public:
  using Clock = std::chrono::steady_clock;
  using Log = std::function<void(const std::string&)>;

  // Connects (ZeroMQ connects lazily: nothing fails here if the driver is not up yet).
  // `keys`: encrypt and authenticate with CURVE; throws Error when libzmq lacks CURVE.
  Instrument(zmq::context_t& context, std::string name, std::string endpoint, InstrumentTiming timing, Log log,
             std::optional<InstrumentKeys> keys = std::nullopt);
  ~Instrument();
  Instrument(const Instrument&) = delete;
  Instrument& operator=(const Instrument&) = delete;

  // Sends `hello` and waits for `welcome`. Throws InstrumentError when none comes in time, when
  // the driver answers with an error (e.g. another protocol version) or a malformed welcome, and
  // as soon as the handshake is refused (the message says why; see the top of this header).
  // `check`, when given, is called a few times a second while waiting and may throw to give up
  // early (e.g. when the simulator process already exited). `campaign_id`: the campaign asks to
  // hold the instrument (protocol §12); a driver held by another campaign answers `busy`, and the
  // InstrumentError says who holds it and what to do. Without it, the hello of protocol v1.
  const InstrumentInfo& hello(const std::string& campaign, const std::function<void()>& check = {},
                              const std::optional<std::string>& campaign_id = std::nullopt);
  // The hello that hello() sent, to send again when the driver forgot this peer (a reconnect, a
  // restarted driver answering `busy` to the holder's own runs).
  protocol::Hello hello_message() const { return hello_; }
  // The holder the driver's welcome named: this campaign, under exclusive control; nothing from
  // a driver without it.
  const std::optional<protocol::Holder>& holder() const { return holder_; }

  void send(const protocol::Message& message);
  // Closes the socket and connects a new one to the same endpoint (the driver sees a new peer).
  // For a driver that went silent: ZeroMQ gives up on a connection after a protocol error such
  // as a frame over kMaxFrameBytes, and only a new socket can reach the driver again.
  void relink();
  // A connection of this socket finished its handshake and has not closed since. Such a socket
  // is not relinked: its driver may merely be slow to answer (a loaded machine), and a fresh
  // socket would throw away what the driver is about to send.
  bool connection_up();
  // The next well-formed message, or nullopt when none arrives within `timeout`. Malformed
  // messages are logged and dropped. Only answers count as a sign of life: a `pong` or `welcome`
  // here, and whatever the campaign vouches for with note_alive() (news of its experiments) — a
  // driver that chatters without answering is as lost as a silent one.
  std::optional<protocol::Message> receive(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  // What happened to the connection since the last call. ZeroMQ reconnects by itself, most often
  // to a driver that was restarted: the driver then sees a new peer and may declare other limits,
  // so the campaign sends it nothing new from the drop on, and says hello again on the reconnect.
  struct ConnectionNews {
    bool dropped = false;      // a connection made earlier was closed
    bool reconnected = false;  // a connection was made after the first one of this socket
  };
  ConnectionNews take_connection_news();

  void note_alive();
  // Sends `ping` when an interval has passed since the last one.
  void ping_if_due(Clock::time_point now);
  // True when `misses` pings in a row went unanswered and nothing answered for heartbeat × misses.
  bool silent(Clock::time_point now) const;

  const std::string& name() const { return name_; }
  const std::string& endpoint() const { return endpoint_; }
  const InstrumentInfo& info() const { return info_; }
  // A later welcome the campaign checked and accepted (a restarted driver's): its declaration now.
  void adopt(InstrumentInfo info) { info_ = std::move(info); }
  // The holder a welcome named, kept when it is this campaign (hello()'s campaign_id): released at
  // the stop. hello() takes its welcome's; the campaign gives later ones (a driver first welcomed
  // after a resume had not said so in answer to hello()). A `controller` that is not the key this
  // link authenticated with (any, on a plaintext link) is the driver's word only: dropped, and so
  // is a `since` the driver did not give (the welcome's arrival is recorded instead). True when kept.
  bool adopt_holder(const std::optional<protocol::Holder>& named);
  zmq::socket_t& socket() { return socket_; }
  int malformed_count() const { return malformed_; }
  // What decode() said of the last malformed message, cut to kMostMalformedChars characters (its
  // reason may quote the message, up to 1 MiB).
  std::string last_malformed() const;
  static constexpr std::size_t kMostMalformedChars = 500;
  int relink_count() const { return relinks_; }
  bool encrypted() const { return keys_.has_value(); }
  // Why the last handshake failed, worded for people ("instrument reactor-1 refused this
  // controller's key curve:…"); empty when the last one succeeded or none failed yet.
  const std::string& handshake_refusal() const { return refusal_; }
  // The driver's own words when the last hello() was refused as busy (another campaign holds it,
  // protocol §12); empty otherwise.
  const std::string& busy_answer() const { return busy_answer_; }
  // The driver's access check refused this controller's key (ZAP status 400: not in, or revoked
  // from, its allow-list) at the last handshake: no reconnection will be let in until someone
  // changes the allow-list. False once a handshake succeeds.
  bool key_refused() const { return key_refused_; }

  // Frames larger than this are not read at all: ZeroMQ drops the connection (see relink()).
  // Between protocol::kMaxMessageBytes and this they are read and refused by decode(), so a
  // driver's author is told what was too large. With kReceiveQueue, they bound what a driver
  // flooding us can make us hold: 100 × 4 MiB (at 16 MiB and ZeroMQ's default queue of 1000, a
  // flood of large frames took the controller to 2 GB).
  static constexpr std::int64_t kMaxFrameBytes = 4 << 20;
  static constexpr int kReceiveQueue = 100;

 private:
  void connect();
  void check_handshake();  // reads the monitor's events; sets refusal_
  std::string refusal_text(int event, int value) const;

  zmq::context_t& context_;
  std::string name_;
  std::string endpoint_;
  InstrumentTiming timing_;
  Log log_;
  std::optional<InstrumentKeys> keys_;
  zmq::socket_t socket_;
  std::unique_ptr<detail::HandshakeMonitor> monitor_;  // after socket_: closed before it
  std::string refusal_;
  std::string busy_answer_;
  bool key_refused_ = false;
  int silent_closes_ = 0;  // handshakes the driver ended without a word, since the last success
  int handshakes_ = 0;     // connections made on this socket
  bool up_ = false;        // the last of them is open
  ConnectionNews news_;
  InstrumentInfo info_;
  protocol::Hello hello_;
  std::optional<protocol::Holder> holder_;
  Clock::time_point last_heard_;
  Clock::time_point last_ping_;
  int unanswered_pings_ = 0;  // pings sent since the last answer
  int malformed_ = 0;
  int relinks_ = 0;
  bool dropping_ = false;       // sends are failing: logged once until one succeeds
  std::string last_malformed_;  // what decode() said of the last malformed message
};

}  // namespace labloop
