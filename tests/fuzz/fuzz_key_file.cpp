// libFuzzer target: the key-file readers behind CurveZMQ and signed journals (docs/fuzzing.md).
//
// Key files are text a technician copies between machines and may damage or mix up, and a
// driver's allow-list directory may hold anything. The input is written as one key file and read
// as a public key (read_public_key), as a key pair (read_key_pair, mode 0600) and as an allow-list
// (read_public_keys); labloop::Error is the expected answer to a bad file. Anything else escaping,
// a sanitizer report, a crash or a hang is a finding. What is accepted must be consistent: a key
// read back from its Z85 text is the same key, and the public part of a key pair is what
// read_public_key reads from the same file.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"

namespace fs = std::filesystem;

namespace {

// One scratch directory per fuzzing process (in memory when /dev/shm exists), removed at exit.
const fs::path& scratch() {
  static const fs::path dir = [] {
    std::string pattern = (fs::exists("/dev/shm") ? std::string("/dev/shm") : fs::temp_directory_path().string()) + "/fuzz_key_file.XXXXXX";
    if (!::mkdtemp(pattern.data())) std::abort();
    std::atexit([] { std::error_code ec; fs::remove_all(scratch(), ec); });
    return fs::path(pattern);
  }();
  return dir;
}

void write(const fs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) std::abort();
}

void check_round_trip(const labloop::Key32& key) {
  const auto again = labloop::z85_decode(labloop::z85_encode(key));
  if (!again || *again != key) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  // Z85 alone: decode accepts exactly the 40-character texts that encode gives back unchanged.
  if (const auto key = labloop::z85_decode(bytes)) {
    if (labloop::z85_encode(*key) != bytes) std::abort();
  }

  const fs::path pub = scratch() / "k.pub", secret = scratch() / "k.key";
  write(pub, bytes);
  write(secret, bytes);
  if (::chmod(secret.c_str(), 0600) != 0) std::abort();

  std::optional<labloop::PublicKey> public_key;
  try {
    public_key = labloop::read_public_key(pub);
    check_round_trip(public_key->curve);
    if (public_key->sign) check_round_trip(*public_key->sign);
    if (public_key->fingerprint().size() != 6 + 16) std::abort();
  } catch (const labloop::Error&) {
  }
  try {
    const labloop::KeyPair pair = labloop::read_key_pair(scratch() / "k");
    // A key pair's file holds its secret, which a public key file may not (it is given away, and
    // often readable by everyone): the same bytes never read as both.
    if (public_key) std::abort();
    check_round_trip(pair.curve_secret);
    if (pair.sign_seed.has_value() != pair.public_key.sign.has_value()) std::abort();
  } catch (const labloop::Error&) {
  }
  try {
    const auto keys = labloop::read_public_keys(pub);
    if (keys.size() != 1 || !public_key || !(keys.front() == *public_key)) std::abort();
  } catch (const labloop::Error&) {
  }
  return 0;
}
