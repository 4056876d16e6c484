// libFuzzer target: the protocol decoder on arbitrary payloads (docs/fuzzing.md).
//
// ProtocolError is the expected answer to a bad message. Anything else escaping, a sanitizer
// report, a crash or a hang is a finding. What decode accepts must survive encode → decode
// unchanged, and a welcome that parse_welcome accepts must come back through Welcome::of as a
// message decode accepts (what we send, our peer's decoder must take).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "labloop/core/error.hpp"
#include "labloop/wire/protocol.hpp"

namespace protocol = labloop::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  protocol::Message message;
  try {
    message = protocol::decode(payload);
  } catch (const labloop::ProtocolError&) {
    return 0;
  }
  if (protocol::decode(protocol::encode(message)) != message) std::abort();
  const auto* welcome = std::get_if<protocol::Welcome>(&message);
  if (!welcome) return 0;
  labloop::InstrumentInfo info;
  try {
    info = protocol::parse_welcome(*welcome);
  } catch (const labloop::ProtocolError&) {
    return 0;
  }
  // Throws (and so fails the run) when our own welcome would be refused.
  protocol::parse_welcome(std::get<protocol::Welcome>(protocol::decode(protocol::encode(protocol::Welcome::of(info)))));
  return 0;
}
