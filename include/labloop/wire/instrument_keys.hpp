#pragma once
// The CurveZMQ keys of one controller→driver link (docs/security.md): the driver's public key,
// which the controller checks the driver against, and the controller's own key pair, which the
// driver's allow-list must hold. A campaign file's instrument "security" section names them.
#include "labloop/core/key_file.hpp"

namespace labloop {

struct InstrumentKeys {
  PublicKey server;  // the driver's public key ("server_public_key")
  KeyPair client;    // this controller's key pair ("client_keys")
};

}  // namespace labloop
