#include "labloop/journal/audit.hpp"

#include <fmt/format.h>

#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/journal.hpp"

namespace labloop {

std::filesystem::path journal_path_of(const std::filesystem::path& where) {
  return std::filesystem::is_directory(where) ? where / "journal.jsonl" : where;
}

JournalAudit audit_journal(const std::filesystem::path& where) {
  JournalAudit audit;
  audit.journal = journal_path_of(where);
  const JournalContents contents = read_journal(audit.journal);
  audit.events = contents.events.size();
  audit.head_hash = contents.last_hash;
  audit.torn_tail = contents.torn_tail_message;

  const CampaignState state = CampaignState::fold(decode_events(contents.events, audit.journal.string()));
  audit.campaign = state.campaign();
  audit.finished = state.finished();
  audit.finish_reason = state.finish_reason();
  audit.proposed = state.proposed_lines();
  audit.results = state.result_outcomes();
  audit.failed = state.failed_outcomes();
  audit.open = state.open_count();
  audit.problems = state.problems();
  return audit;
}

}  // namespace labloop
