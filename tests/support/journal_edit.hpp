#pragma once
// Editing a journal as someone with the file would: its lines, and every hash recomputed with the
// journal's own function so the chain holds again (journal.hpp gives the format). For tests of
// what verify, resume and the signatures make of such edits.
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "labloop/journal/journal.hpp"
#include "test_support.hpp"

namespace labloop::test {

inline std::vector<std::string> journal_lines(const std::filesystem::path& path) {
  std::istringstream in(read_file(path));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline void write_rechained(const std::filesystem::path& path, const std::vector<std::string>& lines) {
  const std::string marker = ",\"hash\":\"";
  std::string previous = journal_genesis_hash(), text;
  for (const std::string& line : lines) {
    const std::string body = line.substr(0, line.rfind(marker));
    previous = journal_hash(previous, body);
    text += body + marker + previous + "\"}\n";
  }
  write_file(path, text);
}

}  // namespace labloop::test
