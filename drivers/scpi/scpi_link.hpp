#pragma once
// The line to an SCPI instrument: a raw TCP socket (LXI instruments listen on port 5025) or a
// character device (a serial port, a USB-serial adapter, /dev/usbtmc*). Commands are written as
// lines, replies read as lines, each within a deadline and stoppable (abort). One owner: the
// SCPI driver runs one experiment at a time.
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>

namespace labloop::scpi {

// Where the instrument is: "HOST:PORT" ("192.168.1.20:5025", "[fe80::1]:5025") or a device path
// ("/dev/ttyUSB0", "/dev/usbtmc0"). `baud` applies to a terminal device only.
struct LinkAddress {
  std::string address;
  std::optional<int> baud;
  bool is_device() const { return !address.empty() && address.front() == '/'; }
};

// Why a line failed: the connection is then unusable until reconnected.
class LinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws LinkError saying how to write a network address ("HOST:PORT") when `address` is not one.
void check_network_address(const std::string& address);

// Baud rates a serial port can be set to (termios's), for the config's check.
bool supported_baud(int baud);

// `bytes` with each carriage return and line feed written as the two characters \r and \n, as
// the config writes them: the characters a read_termination mismatch is about, which a message
// must show, not end a line with.
std::string named_line_endings(const std::string& bytes);

class ScpiLink {
 public:
  using Clock = std::chrono::steady_clock;
  // The longest reply line read (a whole trace of a scope is longer: read it with another tool).
  static constexpr std::size_t kMaxReplyBytes = std::size_t{1} << 20;

  // Connects (TCP, within `connect_timeout`, in slices that see `stop`) or opens the device.
  // Throws LinkError saying what to check.
  ScpiLink(const LinkAddress& where, std::chrono::milliseconds connect_timeout, std::string write_termination, char read_termination,
           std::stop_token stop = {});
  ~ScpiLink();
  ScpiLink(const ScpiLink&) = delete;
  ScpiLink& operator=(const ScpiLink&) = delete;

  // Writes `command` and the write termination, all by `deadline`.
  void write_line(const std::string& command, Clock::time_point deadline, std::stop_token stop = {});
  // The next reply line, without its termination (and a '\r' before it). Throws LinkError past
  // `deadline`, on a stop, when the instrument closes the line, or past kMaxReplyBytes.
  std::string read_line(Clock::time_point deadline, std::stop_token stop = {});
  // Discards whatever has arrived unasked (a reply to a query given up on), and returns it.
  std::string discard_pending();
  // Waits until `deadline` for anything to arrive unasked, then discards and returns what has
  // ("" when nothing came). A USB-TMC device sends nothing unasked: "" at once.
  std::string pending_within(Clock::time_point deadline);

  // The line failed (closed by the instrument, reset, a read or write error): only a new one helps.
  bool broken() const { return broken_; }
  // A reply was given up on (a timeout, a stop): it may still come, and would then be read as the
  // answer to the next query. A line in this state is for commands, not queries.
  bool owes_reply() const { return owes_reply_; }
  // Whether the line still looks open: false once the instrument has closed or reset it, which
  // a network instrument may do when idle. (A close that comes after this is only seen on use.)
  bool alive();

 private:
  enum class Kind { socket, terminal, usbtmc, other_device };
  bool wait_for(short events, Clock::time_point deadline, std::stop_token stop, const char* doing);
  std::size_t read_some(char* into, std::size_t size, Clock::time_point deadline, std::stop_token stop);
  // The error for a reply not whole by its deadline, showing what did arrive; marks the reply owed.
  LinkError no_reply();
  [[noreturn]] void fail(const std::string& why);

  int fd_ = -1;
  Kind kind_ = Kind::socket;
  bool broken_ = false, owes_reply_ = false;
  std::string address_;
  std::string write_termination_;
  char read_termination_;
  std::string buffer_;  // read and not yet returned
};

}  // namespace labloop::scpi
