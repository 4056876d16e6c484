#pragma once
// Running the real `labloop` binary from fault tests, as a technician would, and reading what it
// and the simulators left behind.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"
#include "test_support.hpp"

namespace labloop::test {

struct CliOutcome {
  int status;
  std::string output;  // stdout and stderr together
};

// Runs `labloop args…` to completion (at most 90 s) and returns its status and output.
inline CliOutcome cli(const std::vector<std::string>& words, const TempDir& dir, const std::string& log_name = "cli.log") {
  std::vector<std::string> args{LABLOOP_CLI_PATH};  // built in order: inserting at the front trips a GCC 12 false -Warray-bounds
  args.insert(args.end(), words.begin(), words.end());
  const auto log = dir / log_name;
  std::filesystem::remove(log);
  ChildProcess process(args, log);
  const auto status = process.wait_for(std::chrono::seconds(90));
  REQUIRE(status);
  return {*status, read_file(log)};
}

// Events of one kind in a journal that may be being written (0 while it cannot be read whole).
inline int count_journaled(const std::filesystem::path& journal, const std::string& kind) {
  int n = 0;
  try {
    for (const auto& e : read_journal(journal).events) n += e["event"] == kind;
  } catch (const JournalError&) {
  }
  return n;
}

// What a journal says happened to the instruments and to experiments that did not end well (its
// instrument_*, failed, rejected, planner_note and campaign_finished events, one per line):
// shown when a check fails, since a timing fault on a loaded machine may not come back.
inline std::string what_happened(const std::filesystem::path& journal) {
  std::string story;
  for (const auto& e : read_journal(journal).events) {
    const std::string kind = e.value("event", "");
    if (kind.rfind("instrument_", 0) == 0 || kind == "failed" || kind == "rejected" || kind == "planner_note" || kind == "campaign_finished")
      story += e.dump() + "\n";
  }
  return story;
}

// How often each experiment id appears in a `labloop-sim --completed-log` file (added to `into`).
inline void count_completed(const std::filesystem::path& log, std::map<std::string, int>& into) {
  std::istringstream lines(read_file(log));
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) ++into[nlohmann::json::parse(line).at("experiment").get<std::string>()];
}

}  // namespace labloop::test
