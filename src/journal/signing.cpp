#include "labloop/journal/signing.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include "labloop/core/error.hpp"

namespace labloop {
namespace {

void ensure_sodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw Error("libsodium could not be initialised: no random source? (check /dev/urandom)");
}

struct Ed25519Keys {
  std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> secret_key{};
  ~Ed25519Keys() { sodium_memzero(secret_key.data(), secret_key.size()); }
};

Ed25519Keys keys_from_seed(const Key32& seed) {
  Ed25519Keys keys;
  crypto_sign_seed_keypair(keys.public_key.data(), keys.secret_key.data(), seed.data());
  return keys;
}

}  // namespace

KeyPair generate_key_pair(const std::string& name) {
  ensure_sodium();
  static_assert(crypto_sign_SEEDBYTES == 32 && crypto_sign_PUBLICKEYBYTES == 32 && crypto_scalarmult_curve25519_BYTES == 32);
  KeyPair pair;
  pair.public_key.name = name;
  Key32 seed{};
  randombytes_buf(seed.data(), seed.size());
  const Ed25519Keys keys = keys_from_seed(seed);
  Key32 sign_public{};
  std::copy(keys.public_key.begin(), keys.public_key.end(), sign_public.begin());
  if (crypto_sign_ed25519_pk_to_curve25519(pair.public_key.curve.data(), keys.public_key.data()) != 0 ||
      crypto_sign_ed25519_sk_to_curve25519(pair.curve_secret.data(), keys.secret_key.data()) != 0)
    throw Error("libsodium could not convert a new Ed25519 key to a CurveZMQ key; try again");
  pair.public_key.sign = sign_public;
  pair.sign_seed = seed;
  sodium_memzero(seed.data(), seed.size());
  return pair;
}

Signature sign_message(const KeyPair& pair, std::string_view message) {
  ensure_sodium();
  if (!pair.sign_seed || !pair.public_key.sign)
    throw Error(fmt::format("key \"{}\" cannot sign: it was not made by `labloop keys new` (it has no signing part)", pair.public_key.name));
  const Ed25519Keys keys = keys_from_seed(*pair.sign_seed);
  if (!std::equal(keys.public_key.begin(), keys.public_key.end(), pair.public_key.sign->begin()))
    throw Error(fmt::format("key \"{}\" is damaged: its signing seed does not give its signing public key", pair.public_key.name));
  Signature signature{};
  crypto_sign_detached(signature.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       keys.secret_key.data());
  return signature;
}

bool signature_valid(const PublicKey& key, std::string_view message, const Signature& signature) {
  ensure_sodium();
  if (!key.sign) return false;
  return crypto_sign_verify_detached(signature.data(), reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                     key.sign->data()) == 0;
}

std::optional<Key32> curve_public_of(const Key32& sign_public) {
  ensure_sodium();
  Key32 curve{};
  if (crypto_sign_ed25519_pk_to_curve25519(curve.data(), sign_public.data()) != 0) return std::nullopt;
  return curve;
}

std::string journal_signature_message(std::string_view campaign_id, std::uint64_t signed_seq, std::string_view head) {
  return fmt::format("labloop journal signature v1\ncampaign {}\nseq {}\nhead {}\n", campaign_id, signed_seq, head);
}

JournalSignedEvent sign_journal_head(const KeyPair& pair, std::string_view campaign_id, std::uint64_t signed_seq, std::string_view head) {
  const Signature signature = sign_message(pair, journal_signature_message(campaign_id, signed_seq, head));
  return JournalSignedEvent{.signed_seq = signed_seq, .head = std::string(head), .key_name = pair.public_key.name,
                            .key_fingerprint = pair.public_key.fingerprint(), .public_key = z85_encode(*pair.public_key.sign),
                            .signature = signature_hex(signature)};
}

std::string signature_hex(const Signature& signature) {
  char hex[2 * 64 + 1];
  sodium_bin2hex(hex, sizeof hex, signature.data(), signature.size());
  return hex;
}

std::optional<Signature> signature_from_hex(std::string_view hex) {
  if (hex.size() != 128) return std::nullopt;
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  Signature signature{};
  size_t length = 0;
  if (sodium_hex2bin(signature.data(), signature.size(), hex.data(), hex.size(), nullptr, &length, nullptr) != 0 || length != 64)
    return std::nullopt;
  return signature;
}

}  // namespace labloop
