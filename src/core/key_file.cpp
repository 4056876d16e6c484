#include "labloop/core/key_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include "labloop/core/error.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/utc_time.hpp"

namespace labloop {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

int z85_value(char c) {
  const auto at = kZ85Alphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

// What a path that is no regular file is, for messages ("a folder", "a symbolic link to a device").
std::string kind_of(const fs::path& file, const struct stat& info) {
  std::string what = S_ISDIR(info.st_mode)                          ? "a folder"
                     : S_ISFIFO(info.st_mode)                       ? "a pipe"
                     : S_ISSOCK(info.st_mode)                       ? "a socket"
                     : S_ISCHR(info.st_mode) || S_ISBLK(info.st_mode) ? "a device"
                                                                    : "not a regular file";
  struct stat link {};
  if (::lstat(file.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) return "a symbolic link to " + what;
  return what;
}

// Throws when the file opened (its fstat) may not be used: read_key_text's `judge`.
using KeyFileJudge = void (*)(const fs::path& file, const struct stat& info);

// The text of a key file: opened once without waiting on a pipe, judged by what was opened (a
// folder, a pipe or a device is refused by name; then by `judge`, so what is judged is what is
// read, not a file put in its place meanwhile), and read up to kMaxKeyFileBytes.
std::string read_key_text(const fs::path& file, KeyFileJudge judge = nullptr) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("key file {} cannot be read: {}", file.string(), std::strerror(errno)));
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } guard{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) throw Error(fmt::format("key file {} cannot be read: {}", file.string(), std::strerror(errno)));
  if (!S_ISREG(info.st_mode))
    throw Error(fmt::format("key file {} is {}, not a key file: name the file `labloop keys new` wrote", file.string(), kind_of(file, info)));
  if (judge) judge(file, info);
  if (static_cast<std::uintmax_t>(info.st_size) > kMaxKeyFileBytes)
    throw Error(fmt::format("key file {} is {} bytes; a key file is at most {} bytes: is this the right file?", file.string(),
                            static_cast<std::uintmax_t>(info.st_size), kMaxKeyFileBytes));
  std::string text;
  char buffer[4096];
  while (text.size() <= kMaxKeyFileBytes) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("key file {} cannot be read: {}", file.string(), std::strerror(errno)));
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  if (text.size() > kMaxKeyFileBytes)
    throw Error(fmt::format("key file {} is over {} bytes; a key file is at most that: is this the right file?", file.string(), kMaxKeyFileBytes));
  return text;
}

// The name = "value" lines of a ZPL certificate, by section ("metadata/name", "curve/public-key"),
// or a bare Z85 key as "curve/public-key". A section is a line that starts at its first column and
// holds no '='; a field is name = "value" (quotes optional) and belongs to the section above it.
// public-key and secret-key belong to the curve section: one anywhere else is refused, so no
// reader can take another key from the same file (the Python SDK follows this rule exactly).
std::map<std::string, std::string> read_certificate_fields(const fs::path& file, KeyFileJudge judge = nullptr) {
  std::istringstream in(read_key_text(file, judge));
  std::map<std::string, std::string> fields;
  std::string line, section;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string text = line.substr(first, line.find_last_not_of(" \t") - first + 1);
    if (first == 0 && z85_decode(text)) {
      // a bare key, as zmq_curve_keypair prints it ('=' is a Z85 character: it may hold one)
      if (!fields.emplace("curve/public-key", text).second)
        throw Error(fmt::format("key file {} line {}: a second public key; is this file damaged or forged?", file.string(), line_number));
      continue;
    }
    if (first == 0 && text.find('=') == std::string::npos) {
      section = text;
      continue;
    }
    const auto equals = text.find('=');
    if (equals == std::string::npos)
      throw Error(fmt::format("key file {} line {}: expected name = \"value\"; is this a key file written by labloop keys new?",
                              file.string(), line_number));
    std::string name = text.substr(0, equals);
    name.erase(name.find_last_not_of(" \t") + 1);
    std::string value = text.substr(equals + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    if ((name == "public-key" || name == "secret-key") && section != "curve")
      throw Error(fmt::format("key file {} line {}: {} is {}; a CURVE key belongs to the curve section: is this file damaged or "
                              "forged? (`labloop keys new` writes it there)",
                              file.string(), line_number, name, section.empty() ? "outside any section" : "in section \"" + printable(section) + "\""));
    if (!fields.emplace(section + "/" + name, value).second)
      throw Error(fmt::format("key file {} line {}: {} is given twice in section \"{}\"; is this file damaged or forged?", file.string(),
                              line_number, printable(name), printable(section)));
  }
  return fields;
}

Key32 required_key(const std::map<std::string, std::string>& fields, const std::string& field, const fs::path& file) {
  const auto it = fields.find(field);
  if (it == fields.end())
    throw Error(fmt::format("key file {} has no {}: make keys with `labloop keys new NAME`", file.string(), field));
  const auto key = z85_decode(it->second);
  if (!key) throw Error(fmt::format("key file {}: {} is not a 40-character Z85 key", file.string(), field));
  return *key;
}

std::optional<Key32> optional_key(const std::map<std::string, std::string>& fields, const std::string& field, const fs::path& file) {
  if (!fields.count(field)) return std::nullopt;
  return required_key(fields, field, file);
}

PublicKey public_part(const std::map<std::string, std::string>& fields, const fs::path& file) {
  PublicKey key;
  const auto name = fields.find("metadata/name");
  key.name = name != fields.end() ? name->second : file.stem().string();
  key.curve = required_key(fields, "curve/public-key", file);
  key.sign = optional_key(fields, "metadata/sign-public-key", file);
  return key;
}

void write_file(const fs::path& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST)
      throw Error(fmt::format("{} exists: labloop never overwrites a key; choose another name or remove the old files first", path.string()));
    throw Error(fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  }
  // The mode given to open() is narrowed by the umask; the secret must end up exactly owner-only.
  bool ok = ::fchmod(fd, mode) == 0;
  size_t written = 0;
  while (ok && written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    fs::remove(path);
    throw Error(fmt::format("cannot write {}: {}", path.string(), std::strerror(saved)));
  }
}

std::string today() { return utc_text(std::time(nullptr), "%Y-%m-%d %H:%M UTC"); }

}  // namespace

std::string z85_encode(const Key32& key) {
  std::string text;
  text.reserve(40);
  for (size_t i = 0; i < key.size(); i += 4) {
    std::uint32_t value = (std::uint32_t{key[i]} << 24) | (std::uint32_t{key[i + 1]} << 16) | (std::uint32_t{key[i + 2]} << 8) | key[i + 3];
    char chunk[5];
    for (int j = 4; j >= 0; --j) {
      chunk[j] = kZ85Alphabet[value % 85];
      value /= 85;
    }
    text.append(chunk, 5);
  }
  return text;
}

std::optional<Key32> z85_decode(std::string_view text) {
  if (text.size() != 40) return std::nullopt;
  Key32 key{};
  for (size_t i = 0; i < 8; ++i) {
    std::uint64_t value = 0;
    for (size_t j = 0; j < 5; ++j) {
      const int digit = z85_value(text[i * 5 + j]);
      if (digit < 0) return std::nullopt;
      value = value * 85 + static_cast<std::uint64_t>(digit);
    }
    if (value > 0xffffffffULL) return std::nullopt;
    for (int b = 0; b < 4; ++b) key[i * 4 + static_cast<size_t>(b)] = static_cast<std::uint8_t>(value >> (24 - 8 * b));
  }
  return key;
}

std::string key_fingerprint(const Key32& curve_public) { return "curve:" + z85_encode(curve_public).substr(0, 16); }

bool is_key_fingerprint(std::string_view text) {
  constexpr std::string_view prefix = "curve:";
  return text.size() == prefix.size() + 16 && text.substr(0, prefix.size()) == prefix &&
         std::all_of(text.begin() + prefix.size(), text.end(), [](char c) { return kZ85Alphabet.find(c) != std::string_view::npos; });
}

fs::path secret_key_path(const fs::path& path) {
  fs::path p = path;
  std::error_code ec;
  if (p.extension() == ".key" || (p.extension() != ".pub" && fs::is_regular_file(p, ec))) return p;  // e.g. pyzmq's NAME.key_secret
  if (p.extension() == ".pub") return p.replace_extension(".key");
  return fs::path(p.string() + ".key");
}

fs::path public_key_path(const fs::path& path) {
  fs::path p = path;
  if (p.extension() == ".pub") return p;
  if (p.extension() == ".key") return p.replace_extension(".pub");
  return fs::path(p.string() + ".pub");
}

namespace {

// The public part of a file meant to hold only that: one holding a secret is refused.
PublicKey public_key_only(const std::map<std::string, std::string>& fields, const fs::path& file) {
  for (const char* secret : {"curve/secret-key", "metadata/sign-secret-seed"})
    if (fields.count(secret))
      throw Error(fmt::format("key file {} holds a secret key ({}) where a public key belongs: name the .pub file. A public key file is "
                              "given away and often readable by everyone, so if this one was, treat the secret as known: make a new "
                              "key pair (`labloop keys new`) and revoke this one",
                              file.string(), secret));
  return public_part(fields, file);
}

}  // namespace

PublicKey read_public_key(const fs::path& file) {
  if (!fs::exists(file)) throw Error(fmt::format("key file {} does not exist", file.string()));
  return public_key_only(read_certificate_fields(file), file);
}

PublicKey read_any_public_part(const fs::path& file) {
  if (!fs::exists(file)) throw Error(fmt::format("key file {} does not exist", file.string()));
  return public_part(read_certificate_fields(file), file);
}

std::string secret_key_mode_problem(unsigned mode) {
  if ((mode & 077) == 0) return {};
  return fmt::format("may be read or changed by other users (mode {:04o})", mode & 07777);
}

namespace {

std::string user_named(unsigned uid) {
  const struct passwd* user = ::getpwuid(uid);
  return user && user->pw_name ? fmt::format("user {} (uid {})", printable(user->pw_name), uid) : fmt::format("uid {}", uid);
}

}  // namespace

std::string key_owner_problem(unsigned owner, unsigned user) {
  if (owner == user || owner == 0) return {};
  return fmt::format("belongs to {}, who may read and replace it, not to {}", user_named(owner), user_named(user));
}

std::string allowed_keys_problem(unsigned mode, unsigned owner, unsigned user) {
  if (mode & 022) return fmt::format("may be changed by other users (mode {:04o}): anyone who may could let their own key in", mode & 07777);
  return key_owner_problem(owner, user);
}

KeyPair read_key_pair(const fs::path& path) {
  const fs::path file = secret_key_path(path);
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0)
    throw Error(fmt::format("secret key {} cannot be read: {} (make one with `labloop keys new {}`)", file.string(), std::strerror(errno),
                            file.stem().string()));
  if (!S_ISREG(info.st_mode))
    throw Error(fmt::format("secret key {} is {}, not a key file: name the NAME.key file `labloop keys new` wrote", file.string(),
                            kind_of(file, info)));
  // Judged on the file read (read_key_text), not on this path's stat: a file swapped in meanwhile.
  const auto fields = read_certificate_fields(file, [](const fs::path& opened, const struct stat& found) {
    if (const std::string problem = secret_key_mode_problem(found.st_mode & 07777); !problem.empty())
      throw Error(fmt::format("secret key {} {}; a secret key must be its owner's only: run `chmod 600 {}`", opened.string(), problem, opened.string()));
    if (const std::string problem = key_owner_problem(found.st_uid, ::geteuid()); !problem.empty())
      throw Error(fmt::format("secret key {} {}; a secret key must be its owner's only: make a new key pair as the user who runs labloop "
                              "(`labloop keys new`), and revoke this one",
                              opened.string(), problem));
  });
  KeyPair pair;
  pair.public_key = public_part(fields, file);
  pair.curve_secret = required_key(fields, "curve/secret-key", file);
  pair.sign_seed = optional_key(fields, "metadata/sign-secret-seed", file);
  if (pair.sign_seed.has_value() != pair.public_key.sign.has_value())
    throw Error(fmt::format("key file {} has only half of its signing key (sign-public-key and sign-secret-seed go together)", file.string()));
  return pair;
}

namespace {

// Which keys may use an instrument is which files its allow-list holds: a list others may change
// lets them in (sshd's StrictModes refuses an authorized_keys others may write, for the same reason).
void judge_allowed(const fs::path& what, const struct stat& info) {
  if (const std::string problem = allowed_keys_problem(info.st_mode & 07777, info.st_uid, ::geteuid()); !problem.empty())
    throw Error(fmt::format("allowed keys {} {}; an allow-list must be changed by its owner only (`chmod go-w {}`, owned by the user "
                            "who runs the driver or by root)",
                            printable(what.string()), problem, printable(what.string())));
}

PublicKey read_allowed_key(const fs::path& file) { return public_key_only(read_certificate_fields(file, judge_allowed), file); }

}  // namespace

std::vector<PublicKey> read_public_keys(const fs::path& file_or_directory) {
  std::error_code ec;
  if (!fs::exists(file_or_directory, ec))
    throw Error(fmt::format("allowed keys {} do not exist: name a public key file or a directory of them", file_or_directory.string()));
  if (!fs::is_directory(file_or_directory, ec)) return {read_allowed_key(file_or_directory)};
  struct stat directory {};
  if (::stat(file_or_directory.c_str(), &directory) != 0)
    throw Error(fmt::format("allowed keys {} cannot be read: {}", file_or_directory.string(), std::strerror(errno)));
  judge_allowed(file_or_directory, directory);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(file_or_directory, ec)) {
    if (entry.path().extension() != ".pub") continue;
    std::error_code entry_ec;
    const bool regular = entry.is_regular_file(entry_ec);
    if (entry_ec && entry_ec != std::errc::no_such_file_or_directory)
      throw Error(fmt::format("allowed keys {}: {} cannot be read: {}", file_or_directory.string(), printable(entry.path().filename().string()),
                              entry_ec.message()));
    if (!regular) continue;
    if (files.size() == kMaxAllowedKeys)
      throw Error(fmt::format("allowed keys {} hold more than {} public keys: split them by instrument", file_or_directory.string(),
                              kMaxAllowedKeys));
    files.push_back(entry.path());
  }
  if (ec) throw Error(fmt::format("allowed keys {} cannot be listed: {}", file_or_directory.string(), ec.message()));
  std::sort(files.begin(), files.end());
  std::vector<PublicKey> keys;
  keys.reserve(files.size());
  for (const auto& file : files) keys.push_back(read_allowed_key(file));
  return keys;
}

void write_key_pair(const fs::path& stem, const KeyPair& pair) {
  const auto& p = pair.public_key;
  const bool plain_name = !p.name.empty() && p.name.size() <= 64 &&
                          std::all_of(p.name.begin(), p.name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; });
  if (!plain_name)
    throw Error(fmt::format("key name \"{}\": use 1 to 64 letters, digits, '-', '_' or '.'", printable(p.name)));
  // Named like campaign identifiers, and never a hidden file (".x", ".", "..") nor a name that
  // reads as another file's (x.pub would be written as x.pub.pub and x.pub.key).
  const bool ends_like_a_key_file = p.name.ends_with(".pub") || p.name.ends_with(".key");
  if (!std::isalnum(static_cast<unsigned char>(p.name.front())) || ends_like_a_key_file)
    throw Error(fmt::format("key name \"{}\": {}", printable(p.name),
                            ends_like_a_key_file ? "give it without .pub or .key (labloop adds them)"
                                                 : "start it with a letter or digit (a name starting with '.' is a hidden file, '.' and "
                                                   "'..' are folders)"));
  const fs::path pub = public_key_path(stem), key = secret_key_path(stem);
  if (fs::exists(pub) || fs::exists(key))
    throw Error(fmt::format("{} exists: labloop never overwrites a key; choose another name or remove the old files first",
                            fs::exists(key) ? key.string() : pub.string()));
  std::ostringstream metadata;
  metadata << "metadata\n    name = \"" << p.name << "\"\n";
  if (p.sign) metadata << "    sign-public-key = \"" << z85_encode(*p.sign) << "\"\n";

  std::ostringstream public_text;
  public_text << "#   **** Generated on " << today() << " by labloop keys new ****\n"
              << "#   ZeroMQ CURVE Public Certificate (labloop key \"" << p.name << "\", " << p.fingerprint() << ")\n"
              << "#   Public: give it to drivers that should accept this controller, or to whoever verifies its journals.\n\n"
              << metadata.str() << "curve\n    public-key = \"" << z85_encode(p.curve) << "\"\n";

  std::ostringstream secret_text;
  secret_text << "#   **** Generated on " << today() << " by labloop keys new ****\n"
              << "#   ZeroMQ CURVE **Secret** Certificate (labloop key \"" << p.name << "\", " << p.fingerprint() << ")\n"
              << "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
              << metadata.str();
  if (pair.sign_seed) secret_text << "    sign-secret-seed = \"" << z85_encode(*pair.sign_seed) << "\"\n";
  secret_text << "curve\n    public-key = \"" << z85_encode(p.curve) << "\"\n    secret-key = \"" << z85_encode(pair.curve_secret) << "\"\n";

  write_file(key, secret_text.str(), 0600);
  try {
    write_file(pub, public_text.str(), 0644);
  } catch (...) {
    fs::remove(key);
    throw;
  }
}

}  // namespace labloop
