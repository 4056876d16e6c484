#include "scpi_link.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/usb/tmc.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>

#include "labloop/core/printable.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>

namespace labloop::scpi {

namespace {

using namespace std::chrono_literals;

const std::map<int, speed_t>& baud_rates() {
  static const std::map<int, speed_t> rates{{1200, B1200},     {2400, B2400},     {4800, B4800},     {9600, B9600},
                                            {19200, B19200},   {38400, B38400},   {57600, B57600},   {115200, B115200},
                                            {230400, B230400}, {460800, B460800}, {921600, B921600}};
  return rates;
}

std::string os_error(int error) { return std::strerror(error); }

// "HOST:PORT" or "[IPV6]:PORT" into its parts; throws LinkError for anything else.
std::pair<std::string, std::string> host_and_port(const std::string& address) {
  std::string host, port;
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':')
      throw LinkError(fmt::format("\"{}\" is not an address: write [IPV6]:PORT, e.g. [fe80::1]:5025", address));
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0 || address.find(':') != colon)
      throw LinkError(fmt::format("\"{}\" is not an address: write HOST:PORT (e.g. 192.168.1.20:5025) or a device path (/dev/ttyUSB0)", address));
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(port) < 1 || std::stoi(port) > 65535)
    throw LinkError(fmt::format("\"{}\": the port must be a number from 1 to 65535 (LXI instruments use 5025)", address));
  return {host, port};
}

int milliseconds_until(ScpiLink::Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - ScpiLink::Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 50));  // in slices, so a stop is seen promptly
}

}  // namespace

void check_network_address(const std::string& address) { host_and_port(address); }

bool supported_baud(int baud) { return baud_rates().count(baud) > 0; }

ScpiLink::ScpiLink(const LinkAddress& where, std::chrono::milliseconds connect_timeout, std::string write_termination, char read_termination,
                   std::stop_token stop)
    : address_(where.address), write_termination_(std::move(write_termination)), read_termination_(read_termination) {
  if (where.is_device()) {
    fd_ = ::open(where.address.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) {
      const int error = errno;
      throw LinkError(fmt::format("cannot open the instrument's device {}: {}{}", where.address, os_error(error),
                                  error == EACCES ? " (add this user to the device's group, often dialout)" : ""));
    }
    const auto give_up = [&](const std::string& why) {
      ::close(fd_);
      fd_ = -1;
      throw LinkError(why);
    };
    if (::isatty(fd_)) {
      kind_ = Kind::terminal;
      // A serial line: raw bytes, 8 data bits, no parity, one stop bit, no flow control.
      termios tio{};
      if (::tcgetattr(fd_, &tio) != 0) give_up(fmt::format("cannot read the serial settings of {}: {}", where.address, os_error(errno)));
      ::cfmakeraw(&tio);
      tio.c_cflag |= CLOCAL | CREAD;
      tio.c_cflag &= ~static_cast<tcflag_t>(CSTOPB | CRTSCTS);
      if (where.baud) {
        ::cfsetispeed(&tio, baud_rates().at(*where.baud));
        ::cfsetospeed(&tio, baud_rates().at(*where.baud));
      }
      if (::tcsetattr(fd_, TCSANOW, &tio) != 0) give_up(fmt::format("cannot set the serial settings of {}: {}", where.address, os_error(errno)));
      ::tcflush(fd_, TCIOFLUSH);  // what an earlier user left on the line is not a reply to us
      return;
    }
    if (where.baud) give_up(fmt::format("{} is not a serial port, so \"baud\" does not apply to it: leave it out", where.address));
    // A USB-TMC device (/dev/usbtmc*) answers a plain read() only: poll() reports no data for
    // it. Its reads are made to time out in short slices instead, so a stop is still seen.
    std::uint32_t slice_ms = 100;
    if (::ioctl(fd_, USBTMC_IOCTL_SET_TIMEOUT, &slice_ms) == 0) {
      kind_ = Kind::usbtmc;
      ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    } else {
      kind_ = Kind::other_device;
    }
    return;
  }
  const auto [host, port] = host_and_port(where.address);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw LinkError(fmt::format("cannot find the instrument's host \"{}\": {}", host, ::gai_strerror(rc)));
  std::string why = "no address";
  const auto deadline = Clock::now() + connect_timeout;
  for (const addrinfo* a = found; a && fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = os_error(errno);
      continue;
    }
    int error = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (error == EINPROGRESS) {
      error = ETIMEDOUT;
      for (;;) {  // in slices, so a stop (an abort) is seen
        if (stop.stop_requested()) {
          error = ECANCELED;
          break;
        }
        pollfd p{fd, POLLOUT, 0};
        const int ready = ::poll(&p, 1, milliseconds_until(deadline));
        if (ready > 0) {
          socklen_t len = sizeof error;
          if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
          break;
        }
        if (ready < 0 && errno != EINTR) {
          error = errno;
          break;
        }
        if (Clock::now() >= deadline) break;
      }
    }
    if (error != 0) {
      why = error == ECANCELED ? "stopped while connecting" : os_error(error);
      ::close(fd);
      if (error == ECANCELED) break;
      continue;
    }
    const int one = 1;  // commands are short lines: send each at once
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_ = fd;
  }
  ::freeaddrinfo(found);
  if (fd_ < 0)
    throw LinkError(fmt::format("cannot connect to the instrument at {}: {} (is it on, on this network, and listening on that port?)",
                                where.address, why));
}

ScpiLink::~ScpiLink() {
  if (fd_ >= 0) ::close(fd_);
}

void ScpiLink::fail(const std::string& why) {
  broken_ = true;
  throw LinkError(why);
}

bool ScpiLink::alive() {
  if (broken_) return false;
  if (kind_ == Kind::usbtmc) return true;  // a USB device that is unplugged fails its next read or write
  pollfd p{fd_, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (::poll(&p, 1, 0) <= 0) return true;
  if (p.revents & (POLLHUP | POLLERR | POLLNVAL | POLLRDHUP)) {
    broken_ = true;
    return false;
  }
  if (kind_ == Kind::socket && (p.revents & POLLIN)) {
    char byte;
    const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      broken_ = true;
      return false;
    }
  }
  return true;
}

bool ScpiLink::wait_for(short events, Clock::time_point deadline, std::stop_token stop, const char* doing) {
  for (;;) {
    if (stop.stop_requested()) throw LinkError(fmt::format("stopped while {}", doing));
    pollfd p{fd_, events, 0};
    const int ready = ::poll(&p, 1, milliseconds_until(deadline));
    if (ready < 0 && errno != EINTR) fail(fmt::format("the line to {} failed while {}: {}", address_, doing, os_error(errno)));
    if (ready > 0) {
      if (p.revents & (events | POLLHUP | POLLERR)) return true;
      if (p.revents & POLLNVAL) fail(fmt::format("the line to {} is closed", address_));
    }
    if (Clock::now() >= deadline) return false;
  }
}

void ScpiLink::write_line(const std::string& command, Clock::time_point deadline, std::stop_token stop) {
  if (broken_) fail(fmt::format("the line to {} has failed", address_));
  const std::string line = command + write_termination_;
  std::size_t sent = 0;
  while (sent < line.size()) {
    // A USB-TMC write is synchronous, bounded by the device's own timeout.
    bool ready = kind_ == Kind::usbtmc;
    try {
      if (!ready) ready = wait_for(POLLOUT, deadline, stop, "sending a command");
    } catch (const LinkError&) {
      if (sent > 0) broken_ = true;  // half a command is on the line: what follows would join it
      throw;
    }
    if (!ready) fail(fmt::format("the instrument at {} took no more input for the command \"{}\" within its time", address_, command));
    const ssize_t n = kind_ == Kind::socket ? ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL)
                                            : ::write(fd_, line.data() + sent, line.size() - sent);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR || (kind_ == Kind::usbtmc && errno == ETIMEDOUT && Clock::now() < deadline)) continue;
      fail(fmt::format("cannot send to the instrument at {}: {}", address_, os_error(errno)));
    }
    sent += static_cast<std::size_t>(n);
  }
}

namespace {

// Bytes an instrument sent, for a message: the line endings named as people write them in the
// config ("\r", "\n"), anything else not printable escaped, and at most 200 bytes.
std::string shown_bytes(const std::string& bytes) {
  return printable(named_line_endings(bytes.substr(0, 200))) + (bytes.size() > 200 ? fmt::format("… ({} bytes)", bytes.size()) : std::string());
}

}  // namespace

std::string named_line_endings(const std::string& bytes) {
  std::string named;
  for (const char c : bytes) named += c == '\r' ? std::string("\\r") : c == '\n' ? std::string("\\n") : std::string(1, c);
  return named;
}

// Why no reply came in time. Bytes that did come without the read termination are shown: the
// usual cause is an instrument that ends its lines otherwise than "read_termination" says (a
// serial instrument ending them with "\r" alone), which would otherwise read as silence.
LinkError ScpiLink::no_reply() {
  owes_reply_ = true;
  if (buffer_.empty()) return LinkError(fmt::format("no reply from the instrument at {} within its time", address_));
  const std::string expected = read_termination_ == '\r' ? "\\r" : "\\n";
  const std::string likely = read_termination_ == '\n' && buffer_.find('\r') != std::string::npos ? "\\r" : "";
  return LinkError(fmt::format("no whole reply from the instrument at {} within its time: it sent \"{}\" but never the line ending "
                               "\"read_termination\" says (\"{}\"); {}",
                               address_, shown_bytes(buffer_), expected,
                               likely.empty() ? "set \"read_termination\" to the character that ends its replies (its manual says which)"
                                              : "its replies seem to end with \"\\r\": set \"read_termination\": \"\\r\" in the config"));
}

// Up to `size` bytes, at least one; throws as read_line says.
std::size_t ScpiLink::read_some(char* into, std::size_t size, Clock::time_point deadline, std::stop_token stop) {
  for (;;) {
    if (kind_ == Kind::usbtmc) {
      if (stop.stop_requested()) {
        owes_reply_ = true;
        throw LinkError("stopped while waiting for a reply");
      }
      if (Clock::now() >= deadline) throw no_reply();
    } else {
      bool ready = false;
      try {
        ready = wait_for(POLLIN, deadline, stop, "waiting for a reply");
      } catch (const LinkError&) {
        if (!broken_) owes_reply_ = true;  // a stop: the reply may still come
        throw;
      }
      if (!ready) throw no_reply();
    }
    const ssize_t n = ::read(fd_, into, size);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) fail(fmt::format("the instrument at {} closed the connection", address_));
    if (errno == EAGAIN || errno == EINTR || (kind_ == Kind::usbtmc && errno == ETIMEDOUT)) continue;
    fail(fmt::format("cannot read from the instrument at {}: {}", address_, os_error(errno)));
  }
}

std::string ScpiLink::read_line(Clock::time_point deadline, std::stop_token stop) {
  if (broken_) fail(fmt::format("the line to {} has failed", address_));
  for (;;) {
    if (const auto end = buffer_.find(read_termination_); end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    if (buffer_.size() > kMaxReplyBytes)
      fail(fmt::format("the instrument at {} sent a reply longer than {} bytes without ending it", address_, kMaxReplyBytes));
    char chunk[4096];
    buffer_.append(chunk, read_some(chunk, sizeof chunk, deadline, stop));
  }
}

std::string ScpiLink::pending_within(Clock::time_point deadline) {
  if (kind_ == Kind::usbtmc || broken_) return {};
  if (buffer_.empty() && !wait_for(POLLIN, deadline, {}, "listening for lines nobody asked for")) return {};
  return discard_pending();
}

std::string ScpiLink::discard_pending() {
  std::string stale = std::move(buffer_);
  buffer_.clear();
  if (kind_ == Kind::usbtmc) return stale;  // a read would ask the device for a reply
  char chunk[4096];
  for (ssize_t n; stale.size() <= kMaxReplyBytes && (n = ::read(fd_, chunk, sizeof chunk)) > 0;) stale.append(chunk, static_cast<std::size_t>(n));
  return stale;
}

}  // namespace labloop::scpi
