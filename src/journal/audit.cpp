#include "labloop/journal/audit.hpp"

#include <fmt/format.h>

#include <map>

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

  std::map<std::string, std::string> outcome;  // experiment → its final outcome event
  size_t line = 0;
  // A failed attempt that names its retry ("retry_as") is followed at once by that retry's
  // "proposed" line; only a crash can separate them, and then resume writes the line first.
  std::string announced_retry;
  size_t announced_at = 0;
  for (const auto& e : contents.events) {
    ++line;
    const std::string& kind = e["event"].get_ref<const std::string&>();
    const std::string id = e.value("experiment", "");
    if (!announced_retry.empty() && !(kind == "proposed" && id == announced_retry))
      audit.problems.push_back(fmt::format("line {}: the retry {} announced at line {} was never proposed", line, announced_retry, announced_at));
    announced_retry.clear();
    if (kind == "failed" && e.contains("retry_as") && e["retry_as"].is_string()) {
      announced_retry = e["retry_as"].get<std::string>();
      announced_at = line;
    }
    if (audit.finished && kind != "campaign_resumed") {
      audit.problems.push_back(fmt::format("line {}: \"{}\" after campaign_finished", line, kind));
      continue;
    }
    if (kind == "campaign_started" && line == 1) {
      audit.campaign = e.value("campaign", "");
    } else if (line == 1) {
      audit.problems.push_back(fmt::format("line 1 is \"{}\", not campaign_started", kind));
    } else if (kind == "proposed") {
      if (outcome.count(id)) audit.problems.push_back(fmt::format("line {}: {} proposed twice", line, id));
      outcome.emplace(id, "");
      ++audit.proposed;
    } else if (kind == "result" || kind == "failed") {
      auto it = outcome.find(id);
      if (it == outcome.end()) {
        audit.problems.push_back(fmt::format("line {}: {} for {}, which was never proposed", line, kind, id));
      } else if (!it->second.empty()) {
        audit.problems.push_back(fmt::format("line {}: a second final outcome ({}) for {}, already {}", line, kind, id, it->second));
      } else {
        it->second = kind;
        ++(kind == "result" ? audit.results : audit.failed);
      }
    } else if (kind == "campaign_finished") {
      audit.finished = true;
      audit.finish_reason = e.value("reason", "");
    } else if (kind == "campaign_resumed") {
      audit.finished = false;
    }
  }
  for (const auto& [id, kind] : outcome)
    if (kind.empty()) ++audit.open;
  return audit;
}

}  // namespace labloop
