#pragma once
// The bytes of a file a campaign depends on (a candidates pool, a descriptor table) and their
// SHA-256, which the journal records so that resume and replay use exactly those bytes.
#include <filesystem>
#include <optional>
#include <string>

namespace labloop {

// Lowercase hex. Throws Error when libsodium cannot be initialised.
std::string sha256_hex(const std::string& bytes);
// The file's bytes, or nothing when it cannot be read.
std::optional<std::string> file_bytes(const std::filesystem::path& path);

}  // namespace labloop
