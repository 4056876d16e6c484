// `labloop verify`. Signatures: a journal_signed line at line L signs the chain up to line L−1
// (signing.hpp). Checking it against the chain hash of line L−1 as the file holds it now — not
// the "head" the line claims — is what catches a journal edited and re-chained by hand: the
// chain is intact again, but no longer the one the key signed. Every line before a valid
// signature is covered by it (the chain links them), so only the tail after the last one can be
// unsigned.
#include "labloop/journal/audit.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "labloop/core/error.hpp"
#include "labloop/core/version.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/signing.hpp"

namespace labloop {

namespace {

bool lower_hex(std::string_view text, std::size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// What is wrong with a signature line at `line`, or "" when it is well-formed: what can be
// checked without the signer's key.
std::string signature_form_problem(const JournalSignedEvent& s, std::size_t line) {
  if (line < 2) return "the first line cannot be a signature";
  if (s.signed_seq + 1 != line)
    return fmt::format("signs through line {}, but a signature signs the line before it ({})", s.signed_seq, line - 1);
  if (!lower_hex(s.head, 64)) return "its \"head\" is not 64 lower-case hex digits";
  if (!signature_from_hex(s.signature)) return "its \"signature\" is not 128 lower-case hex digits";
  const auto sign_public = z85_decode(s.public_key);
  if (!sign_public) return "its \"public_key\" is not a Z85 key (40 characters)";
  const auto curve = curve_public_of(*sign_public);
  if (!curve) return "its \"public_key\" is not an Ed25519 public key";
  if (key_fingerprint(*curve) != s.key_fingerprint)
    return fmt::format("its \"key_fingerprint\" {} is not its public key's ({})", s.key_fingerprint, key_fingerprint(*curve));
  return {};
}

void note_signer(JournalAudit& audit, const JournalSignedEvent& s) {
  for (JournalSigner& signer : audit.signers)
    if (signer.fingerprint == s.key_fingerprint && signer.name == s.key_name) {
      ++signer.signatures;
      return;
    }
  audit.signers.push_back(JournalSigner{s.key_name, s.key_fingerprint, 1});
}

// What is wrong with a signature line that is well-formed, checked with `key`, given the chain
// hash of the line before it as the file holds it now; "" when it is the key's signature of the
// chain and names the key as its signer. Its key_name and time are not signed (docs/security.md).
std::string signature_key_problem(const JournalSignedEvent& s, const std::string& campaign_id, const std::string& head, const PublicKey& key) {
  const bool names_key = z85_decode(s.public_key) == key.sign && s.key_fingerprint == key.fingerprint();
  if (!signature_valid(key, journal_signature_message(campaign_id, s.signed_seq, head), *signature_from_hex(s.signature)))
    return fmt::format("signature does not match: the journal was changed after it was signed, or signed by another key{}",
                       names_key ? std::string()
                                 : fmt::format(" (it names key \"{}\" {}; the key given is \"{}\" {})", s.key_name, s.key_fingerprint,
                                               key.name, key.fingerprint()));
  if (!names_key)
    return fmt::format("the signature is key \"{}\" {}'s, but the line names another signer (\"{}\" {}): the line was changed after it "
                       "was written",
                       key.name, key.fingerprint(), s.key_name, s.key_fingerprint);
  return {};
}

// A campaign that ran with a controller key signs right after each campaign_finished line: one
// not followed by a signature lost it (removed with an edit; or the controller stopped between
// the two lines). Its 1-based line, or 0. Not when a signature comes later (an extension's): it
// signs the chain through every line before it, so those lines are proved (and a signature
// removed from the middle breaks the chain the later one signs).
std::size_t finish_without_signature(const std::vector<JournalEvent>& events) {
  bool keyed = false;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (const auto* started = events[i].as<CampaignStartedEvent>()) keyed = started->key_fingerprint.has_value();
    else if (const auto* resumed = events[i].as<CampaignResumedEvent>()) keyed = resumed->key_fingerprint.has_value();
    else if (keyed && events[i].kind() == EventKind::campaign_finished &&
             std::none_of(events.begin() + static_cast<std::ptrdiff_t>(i) + 1, events.end(),
                          [](const JournalEvent& later) { return later.kind() == EventKind::journal_signed; }))
      return i + 1;
  }
  return 0;
}

std::string finish_without_signature_problem(std::size_t line) {
  return fmt::format("line {}: the campaign finished here with a controller key, but no signature follows: labloop signs right after "
                     "campaign_finished, so a signature was removed (or the controller stopped between the two lines), and nothing "
                     "proves the lines before it",
                     line);
}

std::string campaign_id_of(const std::vector<JournalEvent>& events) {
  const auto* started = events.empty() ? nullptr : events.front().as<CampaignStartedEvent>();
  return started ? started->campaign_id.value_or("") : std::string();
}

std::vector<SessionRecord> sessions_of(const std::vector<JournalEvent>& events) {
  std::vector<SessionRecord> sessions;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const JournalEvent& e = events[i];
    if (const auto* started = e.as<CampaignStartedEvent>(); started && sessions.empty()) {
      sessions.push_back(SessionRecord{.line = i + 1, .resumed = false, .at = e.time, .os_user = started->os_user.value_or(""),
                                       .host = started->host.value_or(""), .key_name = started->key_name.value_or(""),
                                       .key_fingerprint = started->key_fingerprint.value_or("")});
    } else if (const auto* resumed = e.as<CampaignResumedEvent>()) {
      sessions.push_back(SessionRecord{.line = i + 1, .resumed = true, .at = e.time, .os_user = resumed->os_user.value_or(""),
                                       .host = resumed->host.value_or(""), .key_name = resumed->key_name.value_or(""),
                                       .key_fingerprint = resumed->key_fingerprint.value_or("")});
    }
    if (sessions.empty()) continue;
    SessionRecord& session = sessions.back();
    if (const auto* ready = e.as<InstrumentReadyEvent>()) {
      // Journaled again after each reconnection: listed again only when another driver answered.
      SessionInstrument answered{ready->instrument, ready->driver, ready->version, ready->key_fingerprint.value_or("")};
      const bool known = std::any_of(session.instruments.begin(), session.instruments.end(), [&](const SessionInstrument& s) {
        return s.name == answered.name && s.driver == answered.driver && s.version == answered.version && s.key_fingerprint == answered.key_fingerprint;
      });
      if (!known) session.instruments.push_back(std::move(answered));
    } else if (const auto* held = e.as<InstrumentHeldEvent>()) {
      for (SessionInstrument& inst : session.instruments)
        if (inst.name == held->instrument && inst.held_since.empty()) inst.held_since = held->since;
    } else if (const auto* released = e.as<InstrumentReleasedEvent>()) {
      for (SessionInstrument& inst : session.instruments)
        if (inst.name == released->instrument) inst.released_at = e.time;
    } else if (const auto* proposed = e.as<ProposedEvent>()) {
      if (session.experiments++ == 0) session.first_experiment = proposed->experiment;
      session.last_experiment = proposed->experiment;
    } else if (e.kind() == EventKind::result || e.kind() == EventKind::failed) {
      ++session.outcomes;
    }
  }
  return sessions;
}

// "0.10.2" as numbers, to compare versions; missing or unreadable parts count as 0.
std::vector<long> version_parts(std::string_view version) {
  std::vector<long> parts;
  while (!version.empty()) {
    const std::size_t dot = version.find('.');
    const std::string_view part = version.substr(0, dot);
    long n = 0;
    for (char c : part) {
      if (c < '0' || c > '9' || n > 1'000'000) break;
      n = n * 10 + (c - '0');
    }
    parts.push_back(n);
    if (dot == std::string_view::npos) break;
    version.remove_prefix(dot + 1);
  }
  return parts;
}

bool newer_than_this(const std::string& version) {
  std::vector<long> theirs = version_parts(version), ours = version_parts(kVersion);
  theirs.resize(std::max(theirs.size(), ours.size()));
  ours.resize(theirs.size());
  return theirs > ours;
}

// Every reader skips an event kind it does not know, so a newer labloop's record of something
// (an experiment's outcome under a new name) was passed over without a word, and the experiment
// ran again (a red-team report). Said, with where to turn.
std::string unknown_kinds_note(const std::vector<JournalEvent>& events, const std::optional<std::string>& started_by) {
  std::vector<std::pair<std::string, std::size_t>> kinds;  // name, first line
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].kind() != EventKind::unknown) continue;
    const std::string name(events[i].name());
    if (std::none_of(kinds.begin(), kinds.end(), [&](const auto& k) { return k.first == name; })) kinds.emplace_back(name, i + 1);
  }
  if (kinds.empty()) return {};
  std::vector<std::string> named;
  for (std::size_t i = 0; i < kinds.size() && i < 10; ++i) named.push_back(fmt::format("\"{}\" (line {})", kinds[i].first, kinds[i].second));
  if (kinds.size() > 10) named.push_back(fmt::format("and {} more", kinds.size() - 10));
  const std::string which = fmt::format("this journal holds event kinds labloop {} does not know, and every reader skips them: {}", kVersion,
                                        fmt::join(named, ", "));
  if (started_by && newer_than_this(*started_by))
    return fmt::format("{}; labloop {}, newer than this one, started the campaign: what those lines record is not read here (an "
                       "experiment they finished would run again), so verify, report and resume it with labloop {} or later",
                       which, *started_by, *started_by);
  return fmt::format("{}; labloop does not write them (the journal was edited, or a newer labloop resumed it)", which);
}

JournalAudit run_audit(const std::filesystem::path& where, const PublicKey* key) {
  JournalAudit audit;
  audit.journal = journal_path_of(where);
  JournalEvents contents = read_journal_events(audit.journal);
  audit.events = contents.events.size();
  audit.head_hash = contents.last_hash;
  audit.torn_tail = contents.torn_tail_message;
  audit.torn_tail_overlong = contents.torn_tail_overlong;

  const std::vector<JournalEvent> events = std::move(contents.events);
  const CampaignState state = CampaignState::fold(events);
  audit.campaign = state.campaign();
  audit.finished = state.finished();
  audit.finish_reason = state.finish_reason();
  audit.proposed = state.proposed_lines();
  audit.results = state.result_outcomes();
  audit.failed = state.failed_outcomes();
  audit.open = state.open_count();
  audit.problems = state.problems();
  audit.unknown_kinds_note = unknown_kinds_note(events, state.labloop_version());
  // Resume and replay refuse a journal without its first line; so does verify.
  if (events.empty())
    audit.problems.insert(audit.problems.begin(), "line 1: the journal has no events; a campaign's journal starts with campaign_started "
                                                  "carrying its configuration (a crash before it leaves nothing to resume: run the "
                                                  "campaign again)");
  audit.sessions = sessions_of(events);

  audit.key_checked = key != nullptr;
  const std::string campaign_id = campaign_id_of(events);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto* s = events[i].as<JournalSignedEvent>();
    if (!s) continue;
    const std::size_t line = i + 1;
    ++audit.signatures;
    note_signer(audit, *s);
    if (const std::string problem = signature_form_problem(*s, line); !problem.empty()) {
      audit.signature_problems.push_back(
          fmt::format("line {}: malformed signature: {}; labloop never writes such a line (the journal was edited or damaged)", line, problem));
      continue;
    }
    if (!key) continue;
    // The chain as it is now, not as the line claims it was.
    if (const std::string problem = signature_key_problem(*s, campaign_id, events[i].chain_before, *key); !problem.empty()) {
      ++audit.failed_signatures;
      audit.signature_problems.push_back(fmt::format("line {}: {}", line, problem));
      continue;
    }
    audit.signed_through = s->signed_seq;
  }
  if (!key) return audit;
  if (const std::size_t line = finish_without_signature(events); line != 0) {
    ++audit.failed_signatures;
    audit.signature_problems.push_back(finish_without_signature_problem(line));
  }
  // A session recorded the controller key it ran with: another key than the one given ran it.
  for (std::size_t i = 0; i < audit.sessions.size(); ++i) {
    const SessionRecord& session = audit.sessions[i];
    if (!session.key_fingerprint.empty() && session.key_fingerprint != key->fingerprint())
      audit.signature_problems.push_back(fmt::format(
          "line {}: session {} ({}) ran with controller key \"{}\" {}, not the key given (\"{}\" {}): one journal is proved by one key; "
          "whoever ran that session put another key in the controller_key's place",
          session.line, i + 1, session.resumed ? "a resume" : "the start", session.key_name, session.key_fingerprint, key->name,
          key->fingerprint()));
  }
  if (!key) return audit;
  if (audit.signatures == 0) {
    // A session that recorded a controller key was meant to sign: it stopped before its first
    // signature (a kill, a full disk), which is not the same as a campaign run without a key.
    const auto keyed = std::find_if(audit.sessions.begin(), audit.sessions.end(), [](const SessionRecord& s) { return !s.key_fingerprint.empty(); });
    audit.signature_problems.push_back(
        keyed != audit.sessions.end()
            ? fmt::format("no signatures yet: session {} ran with controller key \"{}\" but the journal ends before its first signature "
                          "(a campaign signs at every stop, and every 100 events or 10 minutes: a kill or a full disk can end it sooner); {}",
                          keyed - audit.sessions.begin() + 1, keyed->key_name,
                          events.back().kind() == EventKind::campaign_finished ? "a finished campaign signs right after its last line, so its signature was removed (or the "
                                           "controller stopped between the two lines): nothing proves these lines; compare them with a "
                                           "copy of the journal"
                                         : "`labloop resume` signs them as they are now, so check first that nobody changed them")
            : "no signatures: nothing proves who wrote this journal (its campaign ran without \"controller_key\", or they were removed)");
    return audit;
  }
  // The unsigned tail: lines after the last valid signature's, signature lines aside.
  std::size_t first = 0, last = 0;
  for (std::size_t line = static_cast<std::size_t>(audit.signed_through) + 1; line <= events.size(); ++line) {
    if (events[line - 1].kind() == EventKind::journal_signed) continue;
    if (first == 0) first = line;
    last = line;
  }
  if (first != 0) {
    const std::string lines = first == last ? fmt::format("line {} is", first) : fmt::format("lines {}–{} are", first, last);
    // Never the advice to sign them when a signature fails: a resume would sign the edit.
    if (audit.failed_signatures > 0)
      audit.signature_problems.push_back(fmt::format(
          "{} not proved by a valid signature (a signature above fails): do not resume, extend or correct this campaign, which would "
          "refuse anyway; restore journal.jsonl from a copy and find out who changed it",
          lines));
    else if (events.back().kind() == EventKind::campaign_finished)
      audit.signature_problems.push_back(fmt::format(
          "{} not signed, and the campaign finished: a campaign signs right after its last line, so that signature was removed (or the "
          "controller stopped between the two lines); nothing proves these lines: compare them with a copy of the journal",
          lines));
    else
      audit.signature_problems.push_back(fmt::format(
          "{} not signed (the campaign may have been killed): `labloop resume` and a stop sign them as they are now, so check first that "
          "nobody changed them",
          lines));
  }
  return audit;
}

}  // namespace

std::string first_failing_signature(const std::vector<JournalEvent>& events, const PublicKey& key) {
  const std::string campaign_id = campaign_id_of(events);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto* s = events[i].as<JournalSignedEvent>();
    if (!s) continue;
    const std::size_t line = i + 1;
    std::string problem = signature_form_problem(*s, line);
    if (problem.empty()) {
      problem = !events[i].chain_before.empty() ? signature_key_problem(*s, campaign_id, events[i].chain_before, key)
                                                : std::string("the line before it carries no hash");
    } else {
      problem = "malformed signature: " + problem;
    }
    if (!problem.empty()) return fmt::format("line {}: {}", line, problem);
  }
  // A finish without its signature is not refused here: a controller stopped between the two
  // fsynced lines leaves the same journal, and an edit after the last periodic signature could
  // as well have removed the finish too (the unsigned tail, docs/security.md). verify --key names it.
  return {};
}

std::filesystem::path journal_path_of(const std::filesystem::path& where) {
  // A path that cannot be looked at (no permission on a folder above it, a link loop) is taken as
  // the journal: reading it then says why, in the words every reader of a journal uses.
  std::error_code unreadable;
  return std::filesystem::is_directory(where, unreadable) ? where / "journal.jsonl" : where;
}

std::filesystem::path campaign_folder_of(const std::filesystem::path& where) {
  const std::filesystem::path journal = journal_path_of(where);
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(journal, ec);
  return (ec ? journal : real).parent_path();
}

JournalAudit audit_journal(const std::filesystem::path& where) { return run_audit(where, nullptr); }

JournalAudit audit_journal(const std::filesystem::path& where, const PublicKey& key) {
  if (!key.sign)
    throw Error(fmt::format("key \"{}\" ({}) has no signing part (it was made by another ZeroMQ tool): it cannot check signatures; "
                            "use the .pub file `labloop keys new` wrote for the controller",
                            key.name, key.fingerprint()));
  return run_audit(where, &key);
}

}  // namespace labloop
