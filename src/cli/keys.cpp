#include "keys.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/wire/instrument_keys.hpp"
#include "labloop/core/utc_time.hpp"
#include "labloop/journal/signing.hpp"

namespace labloop::cli {
namespace fs = std::filesystem;

namespace {

// Makes a directory's entries (a rename) survive a power cut.
void sync_directory(const fs::path& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string utc_stamp() { return utc_text(std::time(nullptr), "%Y-%m-%dT%H%M%SZ"); }

int keys_new(const std::string& name, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("cannot create the key directory {}: {}", dir.string(), ec.message()));
  const KeyPair pair = generate_key_pair(name);  // checks the name
  const fs::path stem = dir / name;
  write_key_pair(stem, pair);
  fmt::print("new key \"{}\", fingerprint {}\n", name, pair.public_key.fingerprint());
  fmt::print("  {}  public: copy it into the allow-list directory (--allowed) of every driver this controller may use,\n"
             "      or name it as \"server_public_key\" in campaign files when this key is a driver's\n",
             public_key_path(stem).string());
  fmt::print("  {}  secret (mode 0600): keep it on this machine only; never copy or share it\n", secret_key_path(stem).string());
  return 0;
}

// A file's permission bits and owner (as read_key_pair and read_public_keys judge them, links
// followed), or nothing when it cannot be stat()ed.
struct FileAccess {
  unsigned mode = 0, owner = 0;
};
std::optional<FileAccess> access_of(const fs::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) return std::nullopt;
  return FileAccess{static_cast<unsigned>(info.st_mode & 07777), static_cast<unsigned>(info.st_uid)};
}

// An entry of a key directory that is a regular file (links followed), or the reason it cannot be
// judged (a link loop, a link to nowhere, no permission): such an entry is reported and skipped.
std::optional<std::string> unreadable_entry(const fs::directory_entry& entry, bool& regular) {
  std::error_code ec;
  regular = entry.is_regular_file(ec);
  if (ec && ec != std::errc::no_such_file_or_directory) return ec.message();
  if (ec) {  // a link to nowhere
    regular = false;
    if (entry.is_symlink(ec)) return std::string("a symbolic link to nothing");
  }
  return std::nullopt;
}

int keys_list(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(fmt::format("{} is not a directory of keys (make one with `labloop keys new NAME --dir {}`)", printable(dir.string()), printable(dir.string())));
  std::set<std::string> stems;
  std::map<std::string, std::string> unreadable;  // file name → why
  fs::directory_iterator it(dir, ec);
  if (ec) throw Error(fmt::format("cannot list {}: {}", printable(dir.string()), ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const auto& entry = *it;
    const auto ext = entry.path().extension();
    if (ext != ".pub" && ext != ".key") continue;
    bool regular = false;
    if (const auto why = unreadable_entry(entry, regular)) {
      unreadable[entry.path().filename().string()] = *why;
      continue;
    }
    if (regular) stems.insert(entry.path().stem().string());
    if (stems.size() > kMaxAllowedKeys) throw Error(fmt::format("{} holds more than {} keys; list a smaller directory", printable(dir.string()), kMaxAllowedKeys));
  }
  if (ec) throw Error(fmt::format("cannot list {}: {}", printable(dir.string()), ec.message()));
  int status = 0;
  // As an allow-list, drivers refuse a directory others may change (read_public_keys).
  if (const auto access = access_of(dir)) {
    if (const std::string problem = allowed_keys_problem(access->mode, access->owner, ::geteuid()); !problem.empty()) {
      fmt::print("{} {}; drivers refuse it as an allow-list (`chmod go-w {}`)\n", printable(dir.string()), problem, printable(dir.string()));
      status = 1;
    }
  }
  fmt::print("{:<24} {:<22} {:<12} {:<8} {}\n", "NAME", "FINGERPRINT", "KIND", "SIGNS", "SECRET");
  for (const auto& stem : stems) {
    const fs::path pub = dir / (stem + ".pub"), key = dir / (stem + ".key");
    const bool has_key = fs::is_regular_file(key, ec), has_pub = fs::is_regular_file(pub, ec);
    std::string kind, signs, secret, fingerprint;
    try {
      if (has_key) {
        kind = has_pub ? "pair" : "secret only";
        // Judged by the rules read_key_pair applies (secret_key_mode_problem, key_owner_problem),
        // and shown as the mode the file has: "ok (0600)" was printed for every mode it took (0400,
        // 0700), and for a file another user owns.
        const auto access = access_of(key);
        const std::string mode_problem = access ? secret_key_mode_problem(access->mode) : std::string();
        const std::string owner_problem = access ? key_owner_problem(access->owner, ::geteuid()) : std::string();
        if (!mode_problem.empty() || !owner_problem.empty()) {
          // read_key_pair refuses it; the public part still names the key.
          const PublicKey p = read_any_public_part(key);
          fingerprint = p.fingerprint();
          signs = p.sign ? "yes" : "no";
          secret = !mode_problem.empty()
                       ? fmt::format("UNSAFE ({:04o}): others may read it; labloop refuses it (run `chmod 600 {}`)", access->mode, printable(key.string()))
                       : fmt::format("UNSAFE ({:04o}): it {}; labloop refuses it", access->mode, owner_problem);
          status = 1;
        } else {
          const KeyPair pair = read_checked_key_pair(key);
          fingerprint = pair.public_key.fingerprint();
          signs = pair.sign_seed ? "yes" : "no";
          secret = fmt::format("ok ({:04o})", access ? access->mode : 0600u);
          if (has_pub && read_public_key(pub).curve != pair.public_key.curve) {
            secret = fmt::format("MISMATCH: {} is not this pair's public key", printable(pub.string()));
            status = 1;
          }
        }
      } else {
        const PublicKey p = read_public_key(pub);
        kind = "public only";
        fingerprint = p.fingerprint();
        signs = p.sign ? "yes" : "no";
        secret = "-";
        // As an allow-list entry, drivers refuse a file others may change (read_public_keys).
        if (const auto access = access_of(pub)) {
          if (const std::string problem = allowed_keys_problem(access->mode, access->owner, ::geteuid()); !problem.empty()) {
            secret = fmt::format("- (UNSAFE ({:04o}): it {}; drivers refuse it in an allow-list)", access->mode, problem);
            status = 1;
          }
        }
      }
    } catch (const Error& e) {
      fmt::print("{:<24} DAMAGED: {}\n", printable(stem), printable(e.what()));
      status = 1;
      continue;
    }
    fmt::print("{:<24} {:<22} {:<12} {:<8} {}\n", printable(stem), fingerprint, kind, signs, secret);
  }
  for (const auto& [name, why] : unreadable) {
    fmt::print("{:<24} UNREADABLE: {} cannot be read ({}); skipped\n", printable(fs::path(name).stem().string()), printable(name), why);
    status = 1;
  }
  if (stems.empty() && unreadable.empty()) fmt::print("(no keys in {})\n", printable(dir.string()));
  if (fs::is_directory(dir / "revoked", ec)) {
    size_t revoked = 0;
    fs::directory_iterator r(dir / "revoked", ec);
    for (; !ec && r != fs::directory_iterator(); r.increment(ec)) revoked += r->path().extension() == ".pub";
    fmt::print("{} revoked key(s) kept in {} (drivers do not read it)\n", revoked, printable((dir / "revoked").string()));
  }
  return status;
}

int keys_revoke(const std::string& name_or_file, const fs::path& allowed) {
  std::error_code ec;
  if (allowed.empty()) throw Error("say which allow-list: --allowed DIR (the directory a driver's --allowed names)");
  if (!fs::is_directory(allowed, ec))
    throw Error(fmt::format("{} is not a directory: revoke works on an allow-list directory; a driver given a single .pub file is "
                            "revoked by giving it another file",
                            allowed.string()));
  // A file (e.g. the controller's own keys/controller.pub): revoke whatever entry holds its key,
  // whatever that entry's name. A name: ALLOWED/NAME.pub.
  std::optional<Key32> key;
  fs::path named;
  if (fs::is_regular_file(name_or_file, ec)) {
    key = read_public_key(name_or_file).curve;
  } else {
    named = allowed / (name_or_file + ".pub");
    if (!fs::is_regular_file(named, ec))
      throw Error(fmt::format("no key \"{}\" in the allow-list {} (no {}; `labloop keys list {}` shows them)", printable(name_or_file),
                              printable(allowed.string()), printable(named.string()), printable(allowed.string())));
    key = read_public_key(named).curve;
  }
  std::vector<fs::path> entries;
  fs::directory_iterator it(allowed, ec);
  if (ec) throw Error(fmt::format("cannot list {}: {}", printable(allowed.string()), ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const auto& entry = *it;
    if (entry.path().extension() != ".pub") continue;
    bool regular = false;
    if (const auto why = unreadable_entry(entry, regular)) {
      // Reported, never in the way of revoking the others.
      fmt::print("note: {} cannot be read ({}); skipped\n", printable(entry.path().string()), why->c_str());
      continue;
    }
    if (!regular) continue;
    try {
      if (read_public_key(entry.path()).curve == *key) entries.push_back(entry.path());
    } catch (const Error&) {
      // A damaged neighbour is not ours to judge here; the driver logs it.
    }
  }
  if (ec) throw Error(fmt::format("cannot list {}: {}", printable(allowed.string()), ec.message()));
  if (entries.empty())
    throw Error(fmt::format("the key {} ({}) is not in the allow-list {}: nothing to revoke", key_fingerprint(*key), name_or_file, allowed.string()));
  const fs::path revoked = allowed / "revoked";
  fs::create_directories(revoked, ec);
  if (ec) throw Error(fmt::format("cannot create {}: {}", revoked.string(), ec.message()));
  const std::string stamp = utc_stamp();
  for (const auto& entry : entries) {
    const fs::path to = revoked / (entry.stem().string() + ".revoked-" + stamp + ".pub");
    if (fs::exists(to)) throw Error(fmt::format("{} exists already; wait a second and revoke again", to.string()));
    fs::rename(entry, to, ec);
    if (ec) throw Error(fmt::format("cannot move {} to {}: {}", entry.string(), to.string(), ec.message()));
    fmt::print("revoked {} ({}): moved {} to {}\n", printable(entry.stem().string()), key_fingerprint(*key), printable(entry.string()),
               printable(to.string()));
  }
  sync_directory(revoked);
  sync_directory(allowed);
  fmt::print("drivers whose allow-list is {} refuse this key from its next connection; a connection already open stays until it closes "
             "(restart the driver to cut it now)\n",
             allowed.string());
  return 0;
}

}  // namespace

CLI::App* add_keys_command(CLI::App& app, KeysCommand& command) {
  auto* keys = app.add_subcommand("keys", "Key pairs for encrypted, authenticated instruments (docs/security.md): new, list, revoke");
  keys->require_subcommand(1);
  command.new_cmd = keys->add_subcommand("new", "Write DIR/NAME.pub (public) and DIR/NAME.key (secret, mode 0600); never overwrites");
  command.new_cmd->add_option("name", command.name, "Key name: letters, digits, '-', '_', '.'")->required();
  command.new_cmd->add_option("--dir", command.dir, "Directory to write to (default: keys)");
  command.list_cmd = keys->add_subcommand("list", "Each key in DIR: name, fingerprint, pair or public only, can sign, secret permissions");
  command.list_cmd->add_option("dir", command.dir, "Key directory (default: keys)");
  command.revoke_cmd = keys->add_subcommand("revoke", "Move a controller's key out of a driver's allow-list directory into its revoked/ folder");
  command.revoke_cmd->add_option("key", command.name, "The key's name in the allow-list, or its .pub file")->required();
  command.revoke_cmd->add_option("--allowed", command.allowed, "The allow-list directory the driver reads (--allowed DIR)")->required();
  return keys;
}

int run_keys(const KeysCommand& command) {
  if (*command.new_cmd) return keys_new(command.name, command.dir);
  if (*command.list_cmd) return keys_list(command.dir);
  if (*command.revoke_cmd) return keys_revoke(command.name, command.allowed);
  return 0;
}

}  // namespace labloop::cli
