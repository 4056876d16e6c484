#include "labloop/wire/endpoint.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>

#include <charconv>

namespace labloop {

std::string endpoint_problem(std::string_view endpoint, EndpointUse use) {
  constexpr std::string_view kUse = "use tcp://HOST:PORT or ipc:///PATH";
  const std::string quoted = fmt::format("\"{}\"", endpoint);
  if (endpoint.rfind("ipc://", 0) == 0)
    return endpoint.size() > 6 ? std::string() : fmt::format("{} names no file; {}", quoted, kUse);
  if (endpoint.rfind("tcp://", 0) != 0) return fmt::format("{} is not a ZeroMQ endpoint; {}", quoted, kUse);
  const std::string_view rest = endpoint.substr(6);
  const auto colon = rest.rfind(':');
  // An IPv6 host is bracketed ([::1]:5555): its own colons come before the port's.
  if (colon == std::string_view::npos || colon == 0 || (rest.front() == '[' && rest.substr(0, colon).back() != ']'))
    return fmt::format("{} lacks a host or a port; {} (e.g. tcp://127.0.0.1:5555)", quoted, kUse);
  const std::string_view host = rest.substr(0, colon), port = rest.substr(colon + 1);
  if (use == EndpointUse::connect && host == "*")
    return fmt::format("{} names every interface, which a driver serves on; connect to one host (e.g. tcp://127.0.0.1:{})", quoted, port);
  unsigned number = 0;
  const auto [stop, error] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || error != std::errc() || stop != port.data() + port.size() || number < 1 || number > 65535)
    return fmt::format("{}: the port must be a number from 1 to 65535, got \"{}\"", quoted, port);
  return {};
}

std::optional<std::string> dotted_ipv4(const std::string& host) {
  in_addr address{};
  // inet_aton takes every form getaddrinfo takes for a numeric host, and stops at a space.
  if (host.empty() || host.find_first_of(" \t\n") != std::string::npos || ::inet_aton(host.c_str(), &address) == 0) return std::nullopt;
  char text[INET_ADDRSTRLEN];
  if (!::inet_ntop(AF_INET, &address, text, sizeof text)) return std::nullopt;
  return std::string(text);
}

bool loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  if (const auto v4 = dotted_ipv4(host)) return v4->starts_with("127.") || *v4 == "0.0.0.0";
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace labloop
