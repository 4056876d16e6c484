#pragma once
// `labloop pending` and `labloop enter`: a person's side of a manual instrument.
#include <optional>
#include <string>
#include <vector>

namespace labloop::cli {

struct EnterCommand {
  std::string directory;
  std::string experiment;
  std::vector<std::string> values;  // NAME=VALUE words
  std::optional<std::string> failed;   // --failed REASON (given, even empty)
  std::string csv;                  // --csv FILE
  std::optional<std::string> by;    // --by NAME (given, even blank, which is refused; default: the OS user)
  std::optional<std::string> correct;  // --correct REASON: replace a recorded result
};

// Lists experiments waiting for a person, in user units; with `csv`, as a template to fill in and
// give back to `labloop enter --csv`. Exit 0.
int pending(const std::string& directory, bool csv);
// Checks and saves entered results. Exit 0 when every entry was accepted, 2 when any was refused,
// 1 when any could not be saved (a folder it cannot write); the accepted ones are saved all the
// same, and each refusal says why.
int enter(const EnterCommand& command);

}  // namespace labloop::cli
