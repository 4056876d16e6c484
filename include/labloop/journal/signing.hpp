#pragma once
// Ed25519 signatures (libsodium) with the keys of core/key_file.hpp: what makes a journal's
// chain head provably the controller's, and how `labloop keys new` makes a key pair. One key pair
// serves both jobs: its CurveZMQ keys are the Ed25519 keys converted (libsodium's
// crypto_sign_ed25519_*_to_curve25519), so a controller has one identity, not two.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "labloop/core/key_file.hpp"

namespace labloop {

using Signature = std::array<std::uint8_t, 64>;

// A fresh key pair named `name` (letters, digits, '-', '_', '.'), signing and CurveZMQ parts.
KeyPair generate_key_pair(const std::string& name);

// Signs `message` with the pair's Ed25519 key. Throws Error for a key without a signing part
// (one made by another ZeroMQ tool) or whose signing seed does not give its public key.
Signature sign_message(const KeyPair& pair, std::string_view message);
// True when `signature` is `key`'s signature of `message`; false for a key without a signing part.
bool signature_valid(const PublicKey& key, std::string_view message, const Signature& signature);

// Lower-case hex, 128 characters, and back (nothing unless exactly that).
std::string signature_hex(const Signature& signature);
std::optional<Signature> signature_from_hex(std::string_view hex);

}  // namespace labloop
