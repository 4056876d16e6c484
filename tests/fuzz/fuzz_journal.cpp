// libFuzzer target: the journal reader on arbitrary text (docs/fuzzing.md).
//
// JournalError is the expected answer to a damaged journal. Anything else escaping, a sanitizer
// report, a crash or a hang is a finding.
//
// Almost every mutation breaks the hash chain, so on its own the fuzzer would rarely get past the
// first hash check. Each input is therefore read twice: as is, and "resealed", with every line's
// hash recomputed, so that mutated lines reach the seq, event and torn-line checks too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "labloop/core/error.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/journal/journal.hpp"

namespace {

constexpr std::string_view kHashPrefix = ",\"hash\":\"";
constexpr std::size_t kSuffixLength = kHashPrefix.size() + 64 + 2;  // ,"hash":"<64 hex>"}

// Gives every line ending in '}' the hash the chain expects, replacing a hash already there.
std::string reseal(std::string_view text) {
  std::string out;
  std::string previous = labloop::journal_genesis_hash();
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (!line.empty() && line.back() == '}') {
      std::string_view body = line.substr(0, line.size() - 1);
      if (line.size() >= kSuffixLength && line.substr(line.size() - kSuffixLength, kHashPrefix.size()) == kHashPrefix)
        body = line.substr(0, line.size() - kSuffixLength);
      previous = labloop::journal_hash(previous, body);
      out.append(body).append(kHashPrefix).append(previous).append("\"}");
    } else {
      out.append(line);
    }
    if (newline != std::string_view::npos) out.push_back('\n');
  }
  return out;
}

void read(std::string_view text) {
  try {
    const labloop::JournalContents contents = labloop::parse_journal(text, "fuzz.jsonl");
    std::uint64_t seq = 0;
    for (const auto& event : contents.events)
      if (event.at("seq").get<std::uint64_t>() != ++seq) std::abort();  // the reader promises 1, 2, 3, …
    // Every reader decodes and folds what parse_journal accepted: a line of any shape must come
    // out as events and a state, or as a JournalError naming it.
    (void)labloop::CampaignState::fold(labloop::decode_events(contents.events, "fuzz.jsonl"));
  } catch (const labloop::JournalError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  read(text);
  read(reseal(text));
  return 0;
}
