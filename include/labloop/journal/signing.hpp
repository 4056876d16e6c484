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
#include "labloop/journal/events.hpp"

namespace labloop {

using Signature = std::array<std::uint8_t, 64>;

// A fresh key pair named `name` (letters, digits, '-', '_', '.'), signing and CurveZMQ parts.
KeyPair generate_key_pair(const std::string& name);

// Signs `message` with the pair's Ed25519 key. Throws Error for a key without a signing part
// (one made by another ZeroMQ tool) or whose signing seed does not give its public key.
Signature sign_message(const KeyPair& pair, std::string_view message);
// True when `signature` is `key`'s signature of `message`; false for a key without a signing part.
bool signature_valid(const PublicKey& key, std::string_view message, const Signature& signature);

// The CurveZMQ public key of an Ed25519 public key (libsodium's conversion, as generate_key_pair
// makes it): what a key's fingerprint is computed from. Nothing for bytes that are not a valid
// Ed25519 point.
std::optional<Key32> curve_public_of(const Key32& sign_public);

// ---- signed journals (journal/events.hpp: JournalSignedEvent; docs/security.md (Signed records)) ----
//
// The exact bytes a journal_signed line signs, binding the signature to one journal (its campaign
// id: "" for journals from before campaign ids) and one point in it (the seq and chain hash of the
// line before the signature):
//   "labloop journal signature v1\ncampaign <campaign_id>\nseq <signed_seq>\nhead <head>\n"
// (UTF-8, '\n' a line feed, seq in decimal, head the 64 hex digits of that line's "hash").
std::string journal_signature_message(std::string_view campaign_id, std::uint64_t signed_seq, std::string_view head);
// The journal_signed event for a journal whose last line is `signed_seq` with chain hash `head`,
// signed with `pair` (sign_message's errors for a key that cannot sign).
JournalSignedEvent sign_journal_head(const KeyPair& pair, std::string_view campaign_id, std::uint64_t signed_seq, std::string_view head);

// Lower-case hex, 128 characters, and back (nothing unless exactly that).
std::string signature_hex(const Signature& signature);
std::optional<Signature> signature_from_hex(std::string_view hex);

}  // namespace labloop
