#pragma once
// `labloop verify`: checks a campaign's journal — the hash chain and sequence of every line (see
// journal.hpp), then the campaign's own bookkeeping: line 1 is the campaign's one start, with its
// configuration; every dispatch, acceptance, rejection and outcome belongs to a proposed experiment,
// every result to a dispatched one; no experiment has two final outcomes; only a person's results
// are corrected — and its signatures (journal_signed lines,
// signing.hpp): always that they are well-formed, and with the controller's public key that they
// are that key's and cover the whole journal. It also tells who ran what: the sessions (start and
// resumes), who ran each and with which instruments and experiments.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "labloop/core/key_file.hpp"
#include "labloop/journal/events.hpp"

namespace labloop {

// One instrument as a session's instrument_ready line recorded it.
struct SessionInstrument {
  std::string name;
  std::string driver, version;  // from the driver's welcome
  std::string key_fingerprint;  // the driver's public key ("curve:…"); "" when not recorded
  // Exclusive control (instrument_held / instrument_released): "" when the driver held nothing.
  std::string held_since;       // as the driver gave it (UTC ISO 8601)
  std::string released_at;      // journal time of its instrument_released line
};

// A session: the campaign's start or one of its resumes, up to the next one.
struct SessionRecord {
  std::size_t line = 0;      // its campaign_started / campaign_resumed line (1-based)
  bool resumed = false;
  std::string at;            // journal time of that line
  std::string os_user, host;  // "" when not recorded (journals before 0.3)
  std::string key_name, key_fingerprint;  // the controller key; "" for an unsigned session
  std::vector<SessionInstrument> instruments;
  int experiments = 0;                            // "proposed" lines in the session, retries included
  std::string first_experiment, last_experiment;  // the first and last of them; "" when none
  int outcomes = 0;                               // "result" and "failed" lines in the session
};

// A key that signed the journal, as its journal_signed lines name it.
struct JournalSigner {
  std::string name;
  std::string fingerprint;  // "curve:…"
  int signatures = 0;
};

struct JournalAudit {
  std::filesystem::path journal;  // the file checked
  size_t events = 0;
  std::string head_hash;          // hash of the last intact line
  std::string campaign;
  bool finished = false;          // ends with campaign_finished
  std::string finish_reason;
  int proposed = 0, results = 0, failed = 0, open = 0;  // open: proposed, no final outcome yet
  std::string torn_tail;          // non-empty: the last line was cut short (a crash mid-write)
  bool torn_tail_overlong = false;  // ... or passed the longest line a journal holds: not labloop's crash
  std::vector<std::string> problems;  // bookkeeping errors, each naming the line
  // Non-empty when the journal holds event kinds this version does not know (every reader skips
  // them): names them, their first lines, and the newer labloop that started the campaign, if one did.
  std::string unknown_kinds_note;

  // ---- signatures and who ran what ----
  int signatures = 0;                   // journal_signed lines
  std::vector<JournalSigner> signers;   // in order of first signature
  bool key_checked = false;             // audited with a public key (every signature checked with it)
  std::uint64_t signed_through = 0;     // with a key: the last line its valid signatures cover (0: none)
  int failed_signatures = 0;            // with a key: well-formed signature lines that are not its valid signatures
  // Malformed signature lines; with a key also: signatures that do not verify, lines no valid
  // signature covers, a journal without signatures. Each names its line(s).
  std::vector<std::string> signature_problems;
  std::vector<SessionRecord> sessions;  // in journal order

  bool intact() const { return torn_tail.empty() && problems.empty() && signature_problems.empty(); }
};

// `where` is a campaign output directory (its journal.jsonl) or a journal file. A damaged hash
// chain or sequence, or an event with malformed fields, throws JournalError naming the line;
// bookkeeping errors (journal/campaign_state.hpp finds them) are listed in problems, malformed
// signature lines in signature_problems (their cryptography is not checked without a key: anyone
// who can rewrite the file can rewrite them too).
JournalAudit audit_journal(const std::filesystem::path& where);
// The same, then every signature checked with `key` (its Ed25519 part): the audit is intact only
// when every journal_signed line is a valid signature by that key of the chain up to the line
// before it, and the last line that is not a signature is covered by one. Throws Error when `key`
// has no signing part (a key made by another ZeroMQ tool).
JournalAudit audit_journal(const std::filesystem::path& where, const PublicKey& key);

// What resume, extend and `enter --correct` check before they append a signature with `key`:
// every journal_signed line in `events` must be well-formed, `key`'s valid signature of the chain
// as the file holds it now, and name `key` as its signer. The first that is not, as a message
// "line N: …" ("" when all hold).
// (Lines after the last signature cannot be checked: the next signature covers them as they are.)
std::string first_failing_signature(const std::vector<JournalEvent>& events, const PublicKey& key);

// The journal file for a campaign directory or journal path.
std::filesystem::path journal_path_of(const std::filesystem::path& where);
// The folder the campaign writes (its inbox, reports): the one its journal really is in, when the
// path given goes through a symbolic link to the journal. The journal's parent when it cannot be
// resolved (no journal yet).
std::filesystem::path campaign_folder_of(const std::filesystem::path& where);

}  // namespace labloop
