#include "bounded_http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace labloop::cli {

namespace {

using Clock = std::chrono::steady_clock;

int poll_once(socket_t sock, short events, std::chrono::milliseconds wait) {
  pollfd p{sock, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, wait.count())));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n;
    return (p.revents & events) != 0 ? 1 : -1;  // an error or a hang-up alone is no readiness
  }
}

std::chrono::milliseconds duration_of(time_t sec, time_t usec) {
  return std::chrono::milliseconds(static_cast<long long>(sec) * 1000 + static_cast<long long>(usec) / 1000);
}

void address_of(const sockaddr_storage& address, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    port = ntohs(a.sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text);
    port = ntohs(a.sin6_port);
  }
  ip = text;
}

// What a connection has received and no request has used yet. A client may send its next
// requests without waiting for the answers (HTTP/1.1 pipelining: three GETs in one write), so a
// read of the socket can take the start of the next request with the end of this one; those bytes
// are the next request's, kept here for it. (A buffer per request dropped them: the requests after
// the first were neither answered nor refused — red-team report.)
struct ReceivedBytes {
  char buffer[4096];
  size_t at = 0, have = 0;
  bool empty() const { return at == have; }
};

// One request's reading and its answer's writing on a connection, as httplib's SocketStream does
// (buffered reads, each waiting up to the read timeout), with the request's limits: its head ends
// at the first empty line, and every byte of it and every line is counted.
class BoundedStream final : public httplib::Stream {
 public:
  BoundedStream(socket_t sock, ReceivedBytes& received, std::chrono::milliseconds read_timeout, std::chrono::milliseconds write_timeout,
                const RequestLimits& limits)
      : sock_(sock), received_(received), read_timeout_(read_timeout), write_timeout_(write_timeout), limits_(limits),
        deadline_(Clock::now() + limits.deadline) {}

  bool is_readable() const override { return !received_.empty() || poll_once(sock_, POLLIN, read_wait()) > 0; }
  bool is_writable() const override { return poll_once(sock_, POLLOUT, write_timeout_) > 0; }

  ssize_t read(char* ptr, size_t size) override {
    if (size == 0) return 0;
    ReceivedBytes& r = received_;
    if (r.empty()) {
      if (poll_once(sock_, POLLIN, read_wait()) <= 0) return refuse();
      ssize_t n;
      do n = ::recv(sock_, r.buffer, sizeof r.buffer, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      r.at = 0;
      r.have = static_cast<size_t>(n);
    }
    size_t n = std::min(size, r.have - r.at);
    if (in_head_) {
      for (size_t i = 0; i < n; ++i) {
        const char c = r.buffer[r.at + i];
        if (++head_bytes_ > limits_.head_bytes) return refuse();
        if (c == '\n') {
          if (++head_lines_ > limits_.head_lines) return refuse();
          if (line_length_ == 0) {  // the blank line: what follows is the body, httplib's to limit
            in_head_ = false;
            n = i + 1;
            break;
          }
          line_length_ = 0;
        } else if (c != '\r') {
          ++line_length_;
        }
      }
    }
    std::memcpy(ptr, r.buffer + r.at, n);
    r.at += n;
    return static_cast<ssize_t>(n);
  }

  // Never blocks past the write timeout: a reader that stops reading would otherwise hold a
  // serving thread in send() for as long as it likes, whatever the socket's own timeouts.
  ssize_t write(const char* ptr, size_t size) override {
    for (;;) {
      if (!is_writable()) return -1;
      const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      return n;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) address_of(address, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) address_of(address, ip, port);
  }
  socket_t socket() const override { return sock_; }

  // Whether the request was cut off (past a limit, or nothing more came in time): what follows on
  // the connection is the rest of it, no request of its own.
  bool refused() const { return refused_; }

 private:
  ssize_t refuse() {
    refused_ = true;
    return -1;
  }

  // The read timeout, cut short by the request's deadline (none left: no wait at all).
  std::chrono::milliseconds read_wait() const {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    return std::clamp(left, std::chrono::milliseconds(0), read_timeout_);
  }

  socket_t sock_;
  ReceivedBytes& received_;  // the connection's: what this request leaves unread is the next one's
  std::chrono::milliseconds read_timeout_, write_timeout_;
  RequestLimits limits_;
  Clock::time_point deadline_;
  bool in_head_ = true;
  size_t head_bytes_ = 0, head_lines_ = 0, line_length_ = 0;
  bool refused_ = false;
};

}  // namespace

bool BoundedHttpServer::process_and_close_socket(socket_t sock) {
  // An answer is written in two sends (its head, then its body): with Nagle's algorithm the body
  // waited for the client's delayed ACK of the head, about 40 ms on every request after a
  // connection's first (red-team report). Set on the accepted socket itself, whatever the
  // listening socket passes on.
  const int yes = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  ReceivedBytes received;
  bool served = false;
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    // The next request, waited for in short steps so that a console asked to stop does not wait
    // out an idle connection; one already received (pipelined) is served at once.
    if (received.empty()) {
      const auto until = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
      int ready = 0;
      while (ready == 0 && svr_sock_ != INVALID_SOCKET && Clock::now() < until)
        ready = poll_once(sock, POLLIN, std::min(std::chrono::milliseconds(100), std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now())));
      if (ready <= 0) break;
    }
    BoundedStream stream(sock, received, duration_of(read_timeout_sec_, read_timeout_usec_), duration_of(write_timeout_sec_, write_timeout_usec_),
                         limits_);
    bool closed = false;
    served = process_request(stream, left == 1, closed, nullptr);
    if (!served || closed || stream.refused()) break;
  }
  // Requests may be left unanswered (sent past keep_alive_max_count_, or after one that closes
  // the connection; the last answer said "Connection: close"). Closing a socket with bytes unread
  // sends a reset, with which the client's system may drop the answers already sent: when some
  // have come, this side is shut first, and what the client sends is read and dropped for a
  // moment (until it closes, 500 ms or 1 MiB), then the socket closed.
  ::shutdown(sock, SHUT_WR);
  const auto until = Clock::now() + std::chrono::milliseconds(500);
  const bool unread = !received.empty() || poll_once(sock, POLLIN, std::chrono::milliseconds(0)) > 0;
  for (std::size_t dropped = 0; unread && dropped < 1024 * 1024 && Clock::now() < until;) {
    if (poll_once(sock, POLLIN, std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now())) <= 0) break;
    char discard[4096];
    const ssize_t n = ::recv(sock, discard, sizeof discard, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
    if (n > 0) dropped += static_cast<std::size_t>(n);
  }
  ::close(sock);
  return served;
}

}  // namespace labloop::cli
