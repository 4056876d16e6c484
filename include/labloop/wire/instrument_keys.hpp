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

// Throws Error naming `file` unless the pair's secret key gives its public key (libzmq's
// zmq_curve_public, libsodium's crypto_scalarmult_base): a damaged secret would advertise a key it
// cannot serve, and every peer would be told the keys do not match.
void check_key_pair(const KeyPair& pair, const std::filesystem::path& file);
// read_key_pair(path), then check_key_pair: how every key pair is loaded where CURVE is used.
KeyPair read_checked_key_pair(const std::filesystem::path& path);

}  // namespace labloop
