#include "bounded_http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
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

// One request's reading and its answer's writing on a connection, as httplib's SocketStream does
// (buffered reads, each waiting up to the read timeout), with the request's limits: its head ends
// at the first empty line, and every byte of it and every line is counted.
class BoundedStream final : public httplib::Stream {
 public:
  BoundedStream(socket_t sock, std::chrono::milliseconds read_timeout, std::chrono::milliseconds write_timeout, const RequestLimits& limits)
      : sock_(sock), read_timeout_(read_timeout), write_timeout_(write_timeout), limits_(limits), deadline_(Clock::now() + limits.deadline) {}

  bool is_readable() const override { return at_ < have_ || poll_once(sock_, POLLIN, read_wait()) > 0; }
  bool is_writable() const override { return poll_once(sock_, POLLOUT, write_timeout_) > 0; }

  ssize_t read(char* ptr, size_t size) override {
    if (size == 0) return 0;
    if (at_ == have_) {
      if (poll_once(sock_, POLLIN, read_wait()) <= 0) return refuse();
      ssize_t n;
      do n = ::recv(sock_, buffer_, sizeof buffer_, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      at_ = 0;
      have_ = static_cast<size_t>(n);
    }
    size_t n = std::min(size, have_ - at_);
    if (in_head_) {
      for (size_t i = 0; i < n; ++i) {
        const char c = buffer_[at_ + i];
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
    std::memcpy(ptr, buffer_ + at_, n);
    at_ += n;
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
  std::chrono::milliseconds read_timeout_, write_timeout_;
  RequestLimits limits_;
  Clock::time_point deadline_;
  char buffer_[4096];
  size_t at_ = 0, have_ = 0;
  bool in_head_ = true;
  size_t head_bytes_ = 0, head_lines_ = 0, line_length_ = 0;
  bool refused_ = false;
};

}  // namespace

bool BoundedHttpServer::process_and_close_socket(socket_t sock) {
  bool served = false;
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    // The next request, waited for in short steps so that a console asked to stop does not wait
    // out an idle connection.
    const auto until = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
    int ready = 0;
    while (ready == 0 && svr_sock_ != INVALID_SOCKET && Clock::now() < until)
      ready = poll_once(sock, POLLIN, std::min(std::chrono::milliseconds(100), std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now())));
    if (ready <= 0) break;
    BoundedStream stream(sock, duration_of(read_timeout_sec_, read_timeout_usec_), duration_of(write_timeout_sec_, write_timeout_usec_), limits_);
    bool closed = false;
    served = process_request(stream, left == 1, closed, nullptr);
    if (!served || closed || stream.refused()) break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return served;
}

}  // namespace labloop::cli
