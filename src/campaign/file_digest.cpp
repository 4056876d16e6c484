#include "labloop/campaign/file_digest.hpp"

#include <sodium.h>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "labloop/core/error.hpp"
#include "labloop/core/unique_fd.hpp"

namespace labloop {

std::string sha256_hex(const std::string& bytes) {
  if (sodium_init() < 0) throw Error("cannot initialise libsodium (for a file's SHA-256)");
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

std::optional<std::string> file_bytes(const std::filesystem::path& path, std::uintmax_t max_bytes, std::string_view what) {
  // Opened without waiting: a pipe's open would block until a writer came.
  const UniqueFd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (fd.get() < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::nullopt;
  if (!S_ISREG(st.st_mode))
    throw Error(fmt::format("{} {} is not a regular file ({}); name the file itself", what, path.string(),
                            S_ISDIR(st.st_mode) ? "a folder" : S_ISFIFO(st.st_mode) ? "a pipe" : "a device or a socket"));
  const auto too_large = [&](std::uintmax_t size) {
    return Error(fmt::format("{} {} has {} bytes, more than the {} it may have", what, path.string(), size, max_bytes));
  };
  if (static_cast<std::uintmax_t>(st.st_size) > max_bytes) throw too_large(static_cast<std::uintmax_t>(st.st_size));
  std::string bytes;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return bytes;
    if (bytes.size() + static_cast<std::size_t>(n) > max_bytes) throw too_large(bytes.size() + static_cast<std::size_t>(n));  // it grew
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace labloop
