#include "labloop/core/key_file.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "labloop/core/error.hpp"
#include "labloop/journal/signing.hpp"

namespace fs = std::filesystem;
using labloop::Key32;

namespace {

Key32 random_key(std::mt19937& rng) {
  Key32 key{};
  for (auto& b : key) b = static_cast<std::uint8_t>(rng() & 0xff);
  return key;
}

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("labloop-keys-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()))) {
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

labloop::KeyPair sample_pair(std::mt19937& rng, const std::string& name, bool with_sign = true) {
  labloop::KeyPair pair;
  pair.public_key.name = name;
  pair.public_key.curve = random_key(rng);
  pair.curve_secret = random_key(rng);
  if (with_sign) {
    pair.public_key.sign = random_key(rng);
    pair.sign_seed = random_key(rng);
  }
  return pair;
}

}  // namespace

TEST_CASE("Z85 matches the RFC's example and libzmq's encoder", "[keys]") {
  // ZeroMQ RFC 32: 86 4F D2 6F B5 59 F7 5B encodes as "HelloWorld".
  Key32 key{};
  const std::uint8_t hello[8] = {0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B};
  std::copy(std::begin(hello), std::end(hello), key.begin());
  CHECK(labloop::z85_encode(key).substr(0, 10) == "HelloWorld");

  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    const Key32 k = random_key(rng);
    char expected[41];
    REQUIRE(zmq_z85_encode(expected, k.data(), k.size()) != nullptr);
    const std::string text = labloop::z85_encode(k);
    CHECK(text == expected);
    CHECK(labloop::z85_decode(text) == k);
  }
  CHECK_FALSE(labloop::z85_decode("too short"));
  std::string quoted(40, '0');
  quoted.back() = '"';  // not a Z85 character
  CHECK_FALSE(labloop::z85_decode(quoted));
  CHECK_FALSE(labloop::z85_decode(std::string(40, '#')));         // 85^5 - 1 > 2^32 - 1: not a 4-byte group
}

TEST_CASE("A key pair written by labloop reads back, and its secret is its owner's only", "[keys]") {
  TempDir dir;
  std::mt19937 rng(11);
  const auto pair = sample_pair(rng, "controller");
  labloop::write_key_pair(dir.path / "controller", pair);

  struct stat info {};
  REQUIRE(::stat((dir.path / "controller.key").c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);

  const auto back = labloop::read_key_pair(dir.path / "controller");
  CHECK(back.public_key == pair.public_key);
  CHECK(back.curve_secret == pair.curve_secret);
  CHECK(back.sign_seed == pair.sign_seed);
  CHECK(labloop::read_public_key(dir.path / "controller.pub") == pair.public_key);
  // The public file holds nothing secret.
  std::ifstream pub(dir.path / "controller.pub");
  const std::string text((std::istreambuf_iterator<char>(pub)), std::istreambuf_iterator<char>());
  CHECK(text.find(labloop::z85_encode(pair.curve_secret)) == std::string::npos);
  CHECK(text.find(labloop::z85_encode(*pair.sign_seed)) == std::string::npos);
  CHECK(pair.public_key.fingerprint().rfind("curve:", 0) == 0);

  SECTION("never overwritten") {
    CHECK_THROWS_WITH(labloop::write_key_pair(dir.path / "controller", sample_pair(rng, "controller")),
                      Catch::Contains("never overwrites"));
    CHECK(labloop::read_key_pair(dir.path / "controller.key").curve_secret == pair.curve_secret);
  }
  SECTION("group- or world-readable secrets are refused") {
    fs::permissions(dir.path / "controller.key", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    CHECK_THROWS_WITH(labloop::read_key_pair(dir.path / "controller"), Catch::Contains("chmod 600") && Catch::Contains("0640"));
    fs::permissions(dir.path / "controller.key", fs::perms::owner_read | fs::perms::others_read);
    CHECK_THROWS_WITH(labloop::read_key_pair(dir.path / "controller"), Catch::Contains("chmod 600"));
  }
  SECTION("owner-only modes other than 0600 are read, and the one rule says which modes are refused") {
    // `labloop keys list` judges a secret's mode by secret_key_mode_problem and shows the mode as
    // it is; read_key_pair refuses exactly what that rule refuses.
    for (const unsigned mode : {0600u, 0400u, 0700u, 0500u}) {
      INFO(mode);
      CHECK(labloop::secret_key_mode_problem(mode).empty());
      fs::permissions(dir.path / "controller.key", static_cast<fs::perms>(mode));
      CHECK(labloop::read_key_pair(dir.path / "controller").curve_secret == pair.curve_secret);
    }
    for (const unsigned mode : {0640u, 0604u, 0620u, 0610u, 0601u, 0644u}) {
      INFO(mode);
      CHECK(labloop::secret_key_mode_problem(mode) == fmt::format("may be read or changed by other users (mode {:04o})", mode));
      fs::permissions(dir.path / "controller.key", static_cast<fs::perms>(mode));
      CHECK_THROWS_WITH(labloop::read_key_pair(dir.path / "controller"), Catch::Contains(labloop::secret_key_mode_problem(mode)));
    }
    fs::permissions(dir.path / "controller.key", fs::perms::owner_read | fs::perms::owner_write);
  }
  SECTION("names that would break the file are refused") {
    CHECK_THROWS_WITH(labloop::write_key_pair(dir.path / "x", sample_pair(rng, "a\"b")), Catch::Contains("letters, digits"));
  }
}

TEST_CASE("Key files from other ZeroMQ tools and damaged ones", "[keys]") {
  TempDir dir;
  std::mt19937 rng(5);
  const Key32 key = random_key(rng);
  SECTION("a bare Z85 line is a public key that cannot sign") {
    std::ofstream(dir.path / "bare.pub") << labloop::z85_encode(key) << "\n";
    const auto pub = labloop::read_public_key(dir.path / "bare.pub");
    CHECK(pub.curve == key);
    CHECK_FALSE(pub.sign);
    CHECK(pub.name == "bare");
  }
  SECTION("a czmq / pyzmq certificate") {
    std::ofstream(dir.path / "pyzmq.key_secret") << "#   ****  Generated by pyzmq  ****\n\nmetadata\ncurve\n    public-key = \""
                                                 << labloop::z85_encode(key) << "\"\n    secret-key = \"" << labloop::z85_encode(key) << "\"\n";
    fs::permissions(dir.path / "pyzmq.key_secret", fs::perms::owner_read | fs::perms::owner_write);
    const auto pair = labloop::read_key_pair(dir.path / "pyzmq.key_secret");
    CHECK(pair.public_key.curve == key);
    CHECK_FALSE(pair.sign_seed);
  }
  SECTION("damage is named") {
    std::ofstream(dir.path / "broken.pub") << "curve\n    public-key = \"not a key\"\n";
    CHECK_THROWS_WITH(labloop::read_public_key(dir.path / "broken.pub"), Catch::Contains("broken.pub") && Catch::Contains("Z85"));
    std::ofstream(dir.path / "empty.pub") << "# nothing\n";
    CHECK_THROWS_WITH(labloop::read_public_key(dir.path / "empty.pub"), Catch::Contains("no curve/public-key"));
    std::ofstream(dir.path / "big.pub") << std::string(labloop::kMaxKeyFileBytes + 1, '#');
    CHECK_THROWS_WITH(labloop::read_public_key(dir.path / "big.pub"), Catch::Contains("at most"));
    CHECK_THROWS_WITH(labloop::read_public_key(dir.path / "missing.pub"), Catch::Contains("does not exist"));
  }
}

TEST_CASE("An allow-list is a public key file or a directory of them", "[keys]") {
  TempDir dir;
  std::mt19937 rng(3);
  fs::create_directories(dir.path / "allowed");
  labloop::write_key_pair(dir.path / "allowed" / "b", sample_pair(rng, "b"));
  labloop::write_key_pair(dir.path / "allowed" / "a", sample_pair(rng, "a", false));
  std::ofstream(dir.path / "allowed" / "notes.txt") << "not a key";
  const auto keys = labloop::read_public_keys(dir.path / "allowed");
  REQUIRE(keys.size() == 2);  // the .key files and notes.txt are not read
  CHECK(keys[0].name == "a");
  CHECK(keys[1].name == "b");
  CHECK(labloop::read_public_keys(dir.path / "allowed" / "b.pub").size() == 1);
  CHECK_THROWS_WITH(labloop::read_public_keys(dir.path / "nowhere"), Catch::Contains("do not exist"));
}

TEST_CASE("A key file others may change or read is refused: an allow-list others may write, a key another user owns", "[keys]") {
  // Red-team report: an allow-list directory of mode 1777 let any local user add their own .pub and
  // run experiments, and a secret key chown'ed to another user (mode 0600) was used and listed "ok".
  const unsigned me = ::geteuid();
  CHECK(labloop::key_owner_problem(me, me).empty());
  CHECK(labloop::key_owner_problem(0, me).empty());  // root's
  CHECK_THAT(labloop::key_owner_problem(me + 1, me), Catch::Contains("belongs to") && Catch::Contains(fmt::format("uid {}", me + 1)));
  for (const unsigned mode : {0755u, 0700u, 0644u, 0444u, 01755u})
    CHECK(labloop::allowed_keys_problem(mode, me, me).empty());
  for (const unsigned mode : {0775u, 0757u, 01777u, 0664u, 0646u})
    CHECK_THAT(labloop::allowed_keys_problem(mode, me, me), Catch::Contains(fmt::format("may be changed by other users (mode {:04o})", mode)));
  CHECK_THAT(labloop::allowed_keys_problem(0755, me + 1, me), Catch::Contains("belongs to"));

  TempDir dir;
  std::mt19937 rng(4);
  const fs::path allowed = dir.path / "allowed";
  fs::create_directories(allowed);
  fs::permissions(allowed, static_cast<fs::perms>(0755));
  labloop::write_key_pair(allowed / "a", sample_pair(rng, "a"));
  REQUIRE(labloop::read_public_keys(allowed).size() == 1);
  SECTION("a directory others may write") {
    fs::permissions(allowed, static_cast<fs::perms>(01777));
    CHECK_THROWS_WITH(labloop::read_public_keys(allowed), Catch::Contains("allowed keys") && Catch::Contains("mode 1777") && Catch::Contains("chmod go-w"));
  }
  SECTION("a key in it others may write, read from the directory or alone") {
    fs::permissions(allowed / "a.pub", static_cast<fs::perms>(0666));
    CHECK_THROWS_WITH(labloop::read_public_keys(allowed), Catch::Contains("a.pub") && Catch::Contains("mode 0666"));
    CHECK_THROWS_WITH(labloop::read_public_keys(allowed / "a.pub"), Catch::Contains("mode 0666"));
    CHECK(labloop::read_public_key(allowed / "a.pub").name == "a");  // a peer's key given to a controller is not an allow-list
  }
  if (me == 0) {  // only root can give a file away
    SECTION("files another user owns") {
      constexpr unsigned kNobody = 65534;
      REQUIRE(::chown((allowed / "a.key").c_str(), kNobody, kNobody) == 0);
      CHECK_THROWS_WITH(labloop::read_key_pair(allowed / "a"), Catch::Contains("belongs to") && Catch::Contains("uid 65534"));
      REQUIRE(::chown((allowed / "a.pub").c_str(), kNobody, kNobody) == 0);
      CHECK_THROWS_WITH(labloop::read_public_keys(allowed), Catch::Contains("belongs to"));
      REQUIRE(::chown(allowed.c_str(), kNobody, kNobody) == 0);
      CHECK_THROWS_WITH(labloop::read_public_keys(allowed), Catch::Contains("belongs to"));
    }
  }
}

TEST_CASE("labloop keys: one identity signs journals and speaks CurveZMQ", "[keys]") {
  const auto pair = labloop::generate_key_pair("controller");
  REQUIRE(pair.sign_seed);
  // The CurveZMQ half is a real key pair: libzmq derives the same public key from the secret.
  char derived[41];
  REQUIRE(zmq_curve_public(derived, labloop::z85_encode(pair.curve_secret).c_str()) == 0);
  CHECK(std::string(derived) == labloop::z85_encode(pair.public_key.curve));
  CHECK(labloop::generate_key_pair("controller").public_key.curve != pair.public_key.curve);

  TempDir dir;
  labloop::write_key_pair(dir.path / "controller", pair);
  const auto back = labloop::read_key_pair(dir.path / "controller");
  const auto pub = labloop::read_public_key(dir.path / "controller.pub");
  const std::string head = "sha256:0123abcd";
  const auto signature = labloop::sign_message(back, head);
  CHECK(labloop::signature_valid(pub, head, signature));
  CHECK_FALSE(labloop::signature_valid(pub, "sha256:0123abce", signature));
  CHECK_FALSE(labloop::signature_valid(labloop::generate_key_pair("other").public_key, head, signature));
  CHECK(labloop::signature_from_hex(labloop::signature_hex(signature)) == signature);
  CHECK_FALSE(labloop::signature_from_hex("00"));
  CHECK_FALSE(labloop::signature_from_hex(std::string(128, 'g')));

  labloop::KeyPair no_sign = pair;
  no_sign.sign_seed.reset();
  no_sign.public_key.sign.reset();
  CHECK_THROWS_WITH(labloop::sign_message(no_sign, head), Catch::Contains("cannot sign"));
  labloop::KeyPair wrong_seed = pair;
  (*wrong_seed.sign_seed)[0] ^= 1;
  CHECK_THROWS_WITH(labloop::sign_message(wrong_seed, head), Catch::Contains("damaged"));
}
