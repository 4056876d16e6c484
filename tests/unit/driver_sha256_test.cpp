// The driver SDK's own SHA-256 (src/wire/sha256.cpp, for the result cache's stamp): the same
// digests as libsodium's, which the controller uses, across the padding's edge cases.
#include <catch2/catch.hpp>

#include <string>

#include "../../src/wire/sha256.hpp"
#include "labloop/campaign/file_digest.hpp"

TEST_CASE("The driver SDK's SHA-256 agrees with libsodium's", "[driver][cache]") {
  CHECK(labloop::detail::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(labloop::detail::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Tails that fit the length in their last block, and those that need another one.
  for (std::size_t length : {1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 100000}) {
    std::string bytes;
    for (std::size_t i = 0; i < length; ++i) bytes.push_back(static_cast<char>((i * 131 + 7) & 0xff));
    INFO("length " << length);
    CHECK(labloop::detail::sha256_hex(bytes) == labloop::sha256_hex(bytes));
  }
}
