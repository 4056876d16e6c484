#include "labloop/campaign/file_digest.hpp"

#include <sodium.h>

#include <fstream>
#include <iterator>

#include "labloop/core/error.hpp"

namespace labloop {

std::string sha256_hex(const std::string& bytes) {
  if (sodium_init() < 0) throw Error("cannot initialise libsodium (for a file's SHA-256)");
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

std::optional<std::string> file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace labloop
