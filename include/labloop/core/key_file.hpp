#pragma once
// Key files: the CurveZMQ keys that encrypt and authenticate instrument links, and the Ed25519
// keys that sign journals, as `labloop keys new NAME` writes them:
//   NAME.pub  the public part: goes into drivers' allow-lists and to whoever verifies journals;
//   NAME.key  the secret part: readable by its owner only, refused otherwise.
// The text is ZeroMQ's certificate format (ZPL, as czmq's zcert and pyzmq's zmq.auth write them),
// so pyzmq's `zmq.auth.load_certificate` reads these files as they are; keys are Z85 text, 40
// characters, as `zmq_curve_keypair` prints them. labloop's signing key lives in the metadata
// section, where ZeroMQ's tools ignore it. A public key file may also be one bare Z85 line (a
// key made by another ZeroMQ tool); such a key encrypts and authenticates but cannot sign.
//
// core has no cryptography (drivers link core without libsodium): this reads and writes the
// files; making keys and signing live where libsodium is (the CLI, the journal).
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labloop {

using Key32 = std::array<std::uint8_t, 32>;

// Limits on what is read: a key file is at most kMaxKeyFileBytes, an allow-list directory holds
// at most kMaxAllowedKeys public key files; past either, an Error says so.
inline constexpr std::uintmax_t kMaxKeyFileBytes = 64 * 1024;
inline constexpr std::size_t kMaxAllowedKeys = 10000;

// Z85 (ZeroMQ RFC 32) of a 32-byte key: 40 characters.
std::string z85_encode(const Key32& key);
// The key, or nothing unless `text` is exactly 40 valid Z85 characters.
std::optional<Key32> z85_decode(std::string_view text);

// How logs and records name a public key: "curve:" and its first 16 Z85 characters (95 bits;
// finding another key with the same fingerprint is out of reach). Authorization always compares
// the whole key; the fingerprint is for people.
std::string key_fingerprint(const Key32& curve_public);
// Whether `text` has that form: "curve:" and 16 Z85 characters.
bool is_key_fingerprint(std::string_view text);

struct PublicKey {
  std::string name;           // metadata "name", else the file's stem
  Key32 curve{};              // CurveZMQ public key
  std::optional<Key32> sign;  // Ed25519 public key; absent in a key made by another tool
  std::string fingerprint() const { return key_fingerprint(curve); }
  bool operator==(const PublicKey&) const = default;
};

struct KeyPair {
  PublicKey public_key;
  Key32 curve_secret{};
  std::optional<Key32> sign_seed;  // Ed25519 seed (with public_key.sign); absent in another tool's key
};

// Reads NAME.pub. Throws Error naming the file and what is wrong; a file that holds a secret key
// (a copy of a NAME.key where a public key belongs) is refused, as whoever could read it has the
// secret. A file is read once, without waiting on a pipe; a folder, pipe or device is refused by
// name. public-key and secret-key outside the curve section, or a field given twice, are refused.
PublicKey read_public_key(const std::filesystem::path& file);
// The public part of any key file, NAME.key included (labloop keys list).
PublicKey read_any_public_part(const std::filesystem::path& file);
// Reads a key pair from "keys/controller" or "keys/controller.key". Refuses a secret file that
// its group or others may read or write ("chmod 600 …" in the message), one that belongs to
// another user than the one running (root's are taken), and one whose public and secret parts
// are missing or malformed.
KeyPair read_key_pair(const std::filesystem::path& path);
// Why labloop refuses a secret key file whose permission bits are `mode` ("" when it reads it): its
// group or others may read, write or run it. Owner-only modes (0600, 0400, 0700) are taken.
// read_key_pair and `labloop keys list` judge by this one rule.
std::string secret_key_mode_problem(unsigned mode);
// Why labloop refuses a key file (a secret key, an allow-list or a key in it) owned by `owner`
// when run by `user` ("" when it reads it): another user, who may read and replace it. Root's
// files are taken (root may do so anyway).
std::string key_owner_problem(unsigned owner, unsigned user);
// Why labloop refuses an allow-list (a public key file, or the directory of them, and each *.pub
// in it) of permission bits `mode` and owner `owner`, read by `user`: its group or others may
// write it (and so add their own key), or key_owner_problem.
std::string allowed_keys_problem(unsigned mode, unsigned owner, unsigned user);
// An allow-list: one public key file, or a directory whose *.pub files are read (not recursive,
// in name order; other files are ignored). Throws Error for a missing path, a damaged file, more
// than kMaxAllowedKeys keys, or a directory or file others may change (allowed_keys_problem).
std::vector<PublicKey> read_public_keys(const std::filesystem::path& file_or_directory);

// Writes STEM.pub (mode 0644) and STEM.key (mode 0600, created exclusively), both fsynced.
// Never overwrites: throws Error when either exists. `stem` is "keys/reactor-1".
void write_key_pair(const std::filesystem::path& stem, const KeyPair& pair);

// "keys/controller" or "keys/controller.key" → "keys/controller.key"; "x.pub" → "x.key".
std::filesystem::path secret_key_path(const std::filesystem::path& path);
std::filesystem::path public_key_path(const std::filesystem::path& path);

}  // namespace labloop
