#pragma once
// ZeroMQ addresses as labloop uses them: tcp://HOST:PORT or ipc:///PATH. Checked where they are
// written (a campaign file, a command line), so a mistake there is named as such instead of
// failing later as a connection that could not be made.
#include <optional>
#include <string>
#include <string_view>

namespace labloop {

enum class EndpointUse {
  connect,  // a controller or driver-check connecting to a driver: a host and a port
  bind,     // a driver serving: the host may also be * (every interface)
};

// What is wrong with `endpoint`, as a phrase that starts with the endpoint itself (quoted), or
// empty when nothing is: not tcp:// or ipc://, no host or no port, a port that is not a number
// from 1 to 65535, an ipc:// without a path.
std::string endpoint_problem(std::string_view endpoint, EndpointUse use);

// `host` written as an IPv4 address in any form the system's resolver (and so ZeroMQ) reads it —
// 127.0.0.1, 127.1, 2130706433, 0x7f.0.0.1 — as a dotted quad; nullopt for a name or IPv6.
std::optional<std::string> dotted_ipv4(const std::string& host);

// Whether a connection to `host` stays on this machine: localhost, 127.x.y.z in any form, 0.0.0.0
// (the kernel takes it for this machine), ::1.
bool loopback_host(const std::string& host);

}  // namespace labloop
