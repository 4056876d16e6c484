#pragma once
// The bytes of a file a campaign depends on (a candidates pool, a descriptor table) and their
// SHA-256, which the journal records so that resume and replay use exactly those bytes.
#include <filesystem>
#include <optional>
#include <cstdint>
#include <string>
#include <string_view>

namespace labloop {

// Lowercase hex. Throws Error when libsodium cannot be initialised.
std::string sha256_hex(const std::string& bytes);
// The file's bytes, or nothing when it is not there or cannot be opened. Throws Error naming
// `what` ("the candidates file") and the path when it is no regular file (a pipe would block the
// read for ever, /dev/zero never end, a folder gave a library's message naming no file) or holds
// more than `max_bytes` (resume read a 600 MiB file whole before refusing it: red-team reports).
std::optional<std::string> file_bytes(const std::filesystem::path& path, std::uintmax_t max_bytes, std::string_view what);

}  // namespace labloop
