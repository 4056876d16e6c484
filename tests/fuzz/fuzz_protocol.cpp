// libFuzzer target: the protocol decoder on arbitrary payloads (docs/fuzzing.md).
//
// ProtocolError is the expected answer to a bad message. Anything else escaping, a sanitizer
// report, a crash or a hang is a finding. What decode accepts must survive encode → decode
// unchanged, and a welcome that parse_welcome accepts must come back through welcome() as a
// message decode accepts (what we send, our peer's decoder must take).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "labloop/core/error.hpp"
#include "labloop/wire/protocol.hpp"

namespace protocol = labloop::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  nlohmann::json message;
  try {
    message = protocol::decode(payload);
  } catch (const labloop::ProtocolError&) {
    return 0;
  }
  if (protocol::decode(protocol::encode(message)) != message) std::abort();
  if (message["type"] != "welcome") return 0;
  labloop::InstrumentInfo info;
  try {
    info = protocol::parse_welcome(message);
  } catch (const labloop::ProtocolError&) {
    return 0;
  }
  // Throws (and so fails the run) when our own welcome would be refused.
  protocol::parse_welcome(protocol::decode(protocol::encode(protocol::welcome(info))));
  return 0;
}
