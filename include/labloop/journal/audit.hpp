#pragma once
// `labloop verify`: checks a campaign's journal — the hash chain and sequence of every line (see
// journal.hpp), then the campaign's own bookkeeping: every outcome belongs to a proposed experiment
// and no experiment has two final outcomes.
#include <filesystem>
#include <string>
#include <vector>

namespace labloop {

struct JournalAudit {
  std::filesystem::path journal;  // the file checked
  size_t events = 0;
  std::string head_hash;          // hash of the last intact line
  std::string campaign;
  bool finished = false;          // ends with campaign_finished
  std::string finish_reason;
  int proposed = 0, results = 0, failed = 0, open = 0;  // open: proposed, no final outcome yet
  std::string torn_tail;          // non-empty: the last line was cut short (a crash mid-write)
  std::vector<std::string> problems;  // bookkeeping errors, each naming the line

  bool intact() const { return torn_tail.empty() && problems.empty(); }
};

// `where` is a campaign output directory (its journal.jsonl) or a journal file. A damaged hash
// chain or sequence, or an event with malformed fields, throws JournalError naming the line;
// bookkeeping errors (journal/campaign_state.hpp finds them) are listed in problems.
JournalAudit audit_journal(const std::filesystem::path& where);

// The journal file for a campaign directory or journal path.
std::filesystem::path journal_path_of(const std::filesystem::path& where);

}  // namespace labloop
