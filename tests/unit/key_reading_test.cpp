// Key files after an audit (docs/security.md): one reading rule for every reader (a CURVE key
// belongs to the curve section), a secret key where a public one belongs, a damaged secret, and
// paths that are no key file (a pipe, a device, a folder) are refused by name.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/signing.hpp"
#include "labloop/wire/instrument_keys.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;

namespace {

std::string key_text(const labloop::Key32& key) { return "\"" + labloop::z85_encode(key) + "\""; }

void write_text(const fs::path& file, const std::string& text, fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
  std::ofstream(file) << text;
  fs::permissions(file, perms);
}

}  // namespace

TEST_CASE("Key file reading: a CURVE key outside the curve section, or given twice, is refused, never read from another section",
          "[keys]") {
  labloop::test::TempDir dir;
  const auto a = labloop::generate_key_pair("a"), b = labloop::generate_key_pair("b");
  // The audit's file: key A under metadata, key B under curve. Read as B before; the Python SDK read A.
  write_text(dir / "two.pub", "metadata\n    name = \"x\"\n    public-key = " + key_text(a.public_key.curve) + "\ncurve\n    public-key = " +
                                  key_text(b.public_key.curve) + "\n");
  CHECK_THROWS_WITH(labloop::read_public_key(dir / "two.pub"), Catch::Contains("two.pub line 3") && Catch::Contains("in section \"metadata\""));
  write_text(dir / "top.pub", "public-key = " + key_text(a.public_key.curve) + "\n");
  CHECK_THROWS_WITH(labloop::read_public_key(dir / "top.pub"), Catch::Contains("outside any section"));
  write_text(dir / "twice.pub", "curve\n    public-key = " + key_text(a.public_key.curve) + "\n    public-key = " + key_text(b.public_key.curve) + "\n");
  CHECK_THROWS_WITH(labloop::read_public_key(dir / "twice.pub"), Catch::Contains("given twice"));
  write_text(dir / "secret.key", "curve\n    public-key = " + key_text(a.public_key.curve) + "\nother\n    secret-key = " + key_text(a.curve_secret) + "\n");
  CHECK_THROWS_WITH(labloop::read_key_pair(dir / "secret.key"), Catch::Contains("in section \"other\""));
  // A bare key may hold '=' (a Z85 character): still a bare key, not a field.
  std::string bare = labloop::z85_encode(a.public_key.curve);
  bare[0] = '=';
  write_text(dir / "bare.pub", bare + "\n");
  CHECK(labloop::z85_encode(labloop::read_public_key(dir / "bare.pub").curve) == bare);
  // A file labloop writes still reads.
  labloop::write_key_pair(dir / "ok", a);
  CHECK(labloop::read_public_key(dir / "ok.pub").curve == a.public_key.curve);
}

TEST_CASE("Key file reading: a public key file that holds a secret key is refused, as whoever reads it has the secret", "[keys]") {
  labloop::test::TempDir dir;
  const auto a = labloop::generate_key_pair("a");
  labloop::write_key_pair(dir / "a", a);
  fs::copy_file(dir / "a.key", dir / "copy.pub");
  fs::permissions(dir / "copy.pub", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  CHECK_THROWS_WITH(labloop::read_public_key(dir / "copy.pub"), Catch::Contains("holds a secret key") && Catch::Contains("copy.pub"));
  // server_public_key naming a .key file
  CHECK_THROWS_WITH(labloop::read_public_key(dir / "a.key"), Catch::Contains("holds a secret key"));
  fs::create_directories(dir / "allowed");
  fs::copy_file(dir / "copy.pub", dir / "allowed" / "copy.pub");
  CHECK_THROWS_WITH(labloop::read_public_keys(dir / "allowed"), Catch::Contains("holds a secret key"));
  // keys list still names the public part of a .key
  CHECK(labloop::read_any_public_part(dir / "a.key").curve == a.public_key.curve);
}

TEST_CASE("Key file reading: a damaged secret key, one that does not give its public key, is refused where a pair is loaded", "[keys]") {
  labloop::test::TempDir dir;
  const auto a = labloop::generate_key_pair("a");
  labloop::write_key_pair(dir / "a", a);
  CHECK(labloop::read_checked_key_pair(dir / "a").public_key.curve == a.public_key.curve);
  // One character of secret-key changed, as in the audit.
  std::ifstream in(dir / "a.key");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string secret = labloop::z85_encode(a.curve_secret);
  const auto at = text.find(secret);
  REQUIRE(at != std::string::npos);
  text[at + 7] = text[at + 7] == 'a' ? 'b' : 'a';
  fs::remove(dir / "a.key");
  write_text(dir / "a.key", text);
  CHECK_NOTHROW(labloop::read_key_pair(dir / "a"));  // core reads it; it has no cryptography
  CHECK_THROWS_WITH(labloop::read_checked_key_pair(dir / "a"), Catch::Contains("a.key is damaged") && Catch::Contains("does not give its public-key"));
}

TEST_CASE("Key file reading: a pipe, a device or a folder is named as such, never waited on nor told to chmod", "[keys]") {
  labloop::test::TempDir dir;
  REQUIRE(::mkfifo((dir / "fifo.pub").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(labloop::read_public_key(dir / "fifo.pub"), Catch::Contains("fifo.pub is a pipe"));
  REQUIRE(::mkfifo((dir / "fifo.key").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(labloop::read_key_pair(dir / "fifo.key"), Catch::Contains("is a pipe") && !Catch::Contains("chmod"));
  fs::create_symlink("/dev/zero", dir / "zero.key");
  CHECK_THROWS_WITH(labloop::read_key_pair(dir / "zero.key"), Catch::Contains("a symbolic link to a device") && !Catch::Contains("chmod"));
  fs::create_symlink("/dev/zero", dir / "zero.pub");
  CHECK_THROWS_WITH(labloop::read_public_key(dir / "zero.pub"), Catch::Contains("a symbolic link to a device"));
  fs::create_directories(dir / "folder.key");
  CHECK_THROWS_WITH(labloop::read_key_pair(dir / "folder.key"), Catch::Contains("is a folder") && !Catch::Contains("chmod"));
  // A loop among an allow-list's entries names the entry.
  fs::create_directories(dir / "allowed");
  fs::create_symlink("loop.pub", dir / "allowed" / "loop.pub");
  CHECK_THROWS_WITH(labloop::read_public_keys(dir / "allowed"), Catch::Contains("loop.pub cannot be read"));
}

TEST_CASE("Key names: hidden files, '.', '..' and names ending in .pub or .key are refused", "[keys]") {
  labloop::test::TempDir dir;
  for (const std::string name : {".", "..", ".hidden", "x.pub", "x.key", "-x"}) {
    INFO(name);
    CHECK_THROWS_AS(labloop::write_key_pair(dir / name, labloop::generate_key_pair(name)), labloop::Error);
  }
  CHECK(fs::is_empty(dir.path()));
  CHECK_NOTHROW(labloop::write_key_pair(dir / "reactor-1.v2", labloop::generate_key_pair("reactor-1.v2")));
}
