#pragma once
// SHA-256 (FIPS 180-4) for the driver SDK's result-cache stamp. Its own, because a driver links
// labloop::driver alone, without libsodium (tests/out_of_tree checks it); the controller's hashes
// (journal, files) use libsodium.
#include <string>
#include <string_view>

namespace labloop::detail {

// The digest of `bytes` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);

}  // namespace labloop::detail
