#pragma once
// The console's HTTP server: cpp-httplib's, with limits on how a request arrives that httplib 0.11
// (Debian 12's) does not set. It reads a request's head until its blank line whatever the size:
// 4 million headers of 8 bytes took 400 MB before the console could count them and answer 431
// (red-team report), and a head trickled a byte every few seconds held a serving thread for as long
// as the sender liked. Here each request is read through a stream of our own, which refuses a head
// past `head_bytes` or `head_lines` and any read past `deadline` after the request began (httplib
// then answers 400 and closes the connection).
#include <httplib.h>

#include <chrono>
#include <cstddef>

namespace labloop::cli {

struct RequestLimits {
  std::size_t head_bytes = 64 * 1024;  // request line and headers
  std::size_t head_lines = 200;        // the request line, each header, the blank line
  std::chrono::milliseconds deadline{10'000};  // for the whole request (head and body) to arrive
};

class BoundedHttpServer final : public httplib::Server {
 public:
  explicit BoundedHttpServer(RequestLimits limits) : limits_(limits) {}

 private:
  // httplib's own keeps a connection for keep_alive_max_count_ requests, each waited for up to
  // keep_alive_timeout_sec_; this does the same, each request read through a BoundedStream.
  // Requests sent before the previous answer came (pipelined, HTTP/1.1) are answered in order:
  // what one request's read took past its end is the next one's. The socket sends without
  // Nagle's delay (TCP_NODELAY): an answer's head and body go in two writes.
  bool process_and_close_socket(socket_t sock) override;

  RequestLimits limits_;
};

}  // namespace labloop::cli
