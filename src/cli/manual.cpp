#include "manual.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <optional>

#include "catalogue.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/manual_entry.hpp"
#include "labloop/campaign/pareto_report.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/core/append_file.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/wire/instrument_keys.hpp"
#include "labloop/core/os_user.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/utc_time.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/report.hpp"
#include "labloop/journal/signing.hpp"

namespace labloop::cli {

namespace {

namespace fs = std::filesystem;

struct Campaign {
  fs::path directory, journal;
  CampaignConfig config;
  CampaignState state;
  std::vector<JournalEvent> events;
};

Campaign open_campaign(const std::string& where) {
  Campaign c;
  c.journal = journal_path_of(where);
  c.directory = campaign_folder_of(where);  // its inbox, where the campaign looks (through a link to the journal too)
  const auto events = read_journal_events(c.journal).events;
  c.config = journaled_config(events, c.journal.string(), sim::catalogue());
  c.state = CampaignState::fold(events);
  c.events = events;
  return c;
}

std::string value_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Six significant digits: what a person can set by hand (the CSV keeps every digit).
std::string rounded(const nlohmann::json& v) { return v.is_number_float() ? fmt::format("{:.6g}", v.get<double>()) : value_text(v); }

std::string with_unit(const std::string& name, const std::string& unit) { return unit.empty() ? name : fmt::format("{} [{}]", name, unit); }

std::string plural(size_t n, const char* noun) { return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s"); }

}  // namespace

int pending(const std::string& directory, bool csv) {
  const Campaign c = open_campaign(directory);
  const auto waiting = pending_experiments(c.directory, c.config, c.state);
  const auto outputs = manual_outputs(c.config);
  if (csv) {
    std::vector<std::string> header{"experiment", "instrument"};
    for (const auto& p : c.config.parameters) header.push_back(with_unit(p.name, p.unit));
    for (const auto& o : outputs) {
      const OutputSpec* spec = c.config.find_output(o);
      header.push_back(with_unit(o, spec ? spec->unit : ""));
    }
    header.push_back("failed");
    std::vector<std::string> quoted;
    // Cells as results.csv writes them (csv_cell: no formula, control characters escaped); enter
    // --csv reads them back.
    for (const auto& h : header) quoted.push_back(csv_cell(h));
    fmt::print("{}\n", fmt::join(quoted, ","));
    for (const auto& w : waiting) {
      if (w.entered || !w.unreadable.empty()) continue;
      std::vector<std::string> row{csv_cell(w.experiment->id), csv_cell(w.instrument)};
      for (const auto& p : c.config.parameters)
        row.push_back(csv_cell(w.experiment->params.contains(p.name) ? value_text(w.experiment->params[p.name]) : ""));
      row.resize(row.size() + outputs.size() + 1);
      fmt::print("{}\n", fmt::join(row, ","));
    }
    return 0;
  }
  fmt::print("campaign \"{}\" ({}): {} waiting for a person{}\n", printable(c.config.name), printable(c.directory.string()), plural(waiting.size(), "experiment"),
             campaign_running(c.journal) ? "" : " (the campaign is not running: entries are recorded when it resumes)");
  for (const auto& w : waiting) {
    std::vector<std::string> settings;
    for (const auto& p : c.config.parameters)
      if (w.experiment->params.contains(p.name))
        // A discrete level in full, as the campaign file lists it: rounding could make two alike.
        settings.push_back(fmt::format("{} = {}{}", p.name,
                                       p.type == ParameterType::discrete ? value_text(w.experiment->params[p.name]) : rounded(w.experiment->params[p.name]),
                                       p.unit.empty() ? "" : " " + p.unit));
    // A choice (or an id from an edited journal) may hold control or bidirectional characters.
    fmt::print("\n  {}  on {}  since {}\n      {}\n", printable(w.experiment->id), printable(w.instrument), printable(w.experiment->dispatched_at),
               printable(fmt::format("{}", fmt::join(settings, ", "))));
    if (!w.unreadable.empty()) {
      fmt::print("      its entry cannot be recorded: {}\n      fix or delete that file, then enter again\n", w.unreadable);
      continue;
    }
    if (w.entered) {
      fmt::print("      entered by {} at {}; waiting for the campaign to record it\n", printable(w.entered->by), printable(w.entered->at));
      continue;
    }
    std::vector<std::string> fields;
    const std::vector<std::string> required = c.config.required_outputs();
    for (const auto& o : outputs)
      fields.push_back(std::find(required.begin(), required.end(), o) != required.end() ? shell_word(o + "=VALUE") : "[" + shell_word(o + "=VALUE") + "]");
    // An id starting with '-' (a campaign named "-x") would be read as an option: "--" ends them.
    fmt::print("      enter: labloop enter {}{} {} {}\n", w.experiment->id.starts_with('-') ? "-- " : "", printable(path_word(directory)),
               printable(shell_word(w.experiment->id)), printable(fmt::format("{}", fmt::join(fields, " "))));
  }
  if (!waiting.empty())
    fmt::print("\nSeveral at once: labloop pending {0} --csv > todo.csv, fill it in, labloop enter {0} --csv todo.csv\n", printable(path_word(directory)));
  return 0;
}

namespace {

// Held while a correction reads and appends to `journal`; waits up to 30 s for another correction
// (each takes well under a second). Not held where the lock file cannot be made (a read-only
// folder: the Journal then says why it cannot be written) or locks are not kept (some network mounts).
// `lock` holds it (AppendFile does not move).
void wait_for_other_corrections(const fs::path& journal, std::optional<AppendFile>& lock) {
  try {
    lock.emplace((journal.parent_path() / ("." + journal.filename().string() + ".correct.lock")).string(), "the corrections' lock file");
  } catch (const Error&) {
    return;
  }
  if (!lock->lock_exclusively(30'000))
    throw Error("another `labloop enter --correct` has held this campaign's journal for 30 s; try again when it has finished");
}

// `enter --correct`: journaled at once, so the campaign must not hold the journal.
int correct(const EnterCommand& command, const Campaign& as_read) {
  if (!command.csv.empty() || command.experiment.empty())
    throw ConfigError("labloop enter", "--correct", "takes one experiment and its right values: labloop enter DIR EXPERIMENT yield=72 --correct \"why\"");
  // Held from the reading to the append, and the journal read again under it: two corrections at
  // once each checked against, and journaled as previous_values, the result they had read before
  // the other's was appended (a red-team report). Opening it waits a moment for another correction.
  // Corrections wait for one another on a lock of their own, for as long as a few take (CI saw
  // the third of three at once refused after the Journal's 200 ms wait); the Journal's own lock,
  // next, then finds only a run or an `extend` holding it, and refuses at once.
  std::optional<AppendFile> one_correction_at_a_time;
  wait_for_other_corrections(as_read.journal, one_correction_at_a_time);
  std::optional<Journal> held;
  try {
    held.emplace(as_read.journal);
  } catch (const JournalError&) {
    if (!campaign_running(as_read.journal)) throw;
    throw Error(fmt::format("the campaign's journal is in use: the campaign is running (stop it with Ctrl-C, correct the result, then `labloop "
                            "resume {0}`), or another `labloop enter --correct` or `labloop extend` is writing to it (try again)",
                            path_word(command.directory)));
  }
  Journal& journal = *held;
  if (!journal.removed_torn_tail().empty()) fmt::print(stderr, "note: {} (removed; it was never acted on)\n", journal.removed_torn_tail());
  const Campaign c = open_campaign(command.directory);
  ManualEntry e;
  e.experiment = command.experiment;
  e.by = trimmed(command.by.value_or(os_user_name()));  // "  Ana" is Ana, as an entry's --by
  std::string why;
  try {
    parse_assignments(command.values, e);
  } catch (const Error& bad) {
    why = bad.what();  // refused like a value out of range: exit 2
  }
  e.failed = command.failed;
  const std::string reason = trimmed(*command.correct);
  if (why.empty()) why = check_correction(c.config, c.state, e);
  if (why.empty() && is_blank(reason))
    why = "say why you correct it (--correct \"typed 71.5 for 17.5\")";
  if (why.empty() && reason.size() > kMaxEntryText)
    why = fmt::format("the reason (--correct) is {} bytes long; at most {} bytes are kept (shorten it)", reason.size(), kMaxEntryText);
  if (const std::string problem = plain_text_problem(reason); why.empty() && !problem.empty())
    why = fmt::format("the reason (--correct) {}; write it as plain text on one line", problem);
  if (!why.empty()) {
    fmt::print("refused {}: {}\n", e.experiment, why);
    return 2;
  }
  // A signed journal stays provable (`verify --key`): the correction is signed with the campaign's
  // controller key at once, and without that key nothing is written.
  std::optional<KeyPair> key;
  if (!c.config.controller_key.empty()) {
    try {
      key = read_signing_key(c.config.controller_key);
    } catch (const Error& error) {
      fmt::print("refused {}: this campaign's journal is signed, so its corrections are signed too, with its controller_key: {}\n",
                 e.experiment, printable(error.what()));
      return 2;
    }
    // One journal, one key (as resume insists): another key's signature would prove nothing. And
    // a journal changed after it was signed is refused (Error, exit 1): signing the correction
    // would sign the change too.
    try {
      refuse_another_signing_key(c.config, c.events, *key);
    } catch (const ConfigError& error) {
      fmt::print("refused {}: this campaign's journal is signed, so its corrections are signed too, with its controller_key: {}\n",
                 e.experiment, printable(error.what()));
      return 2;
    }
  }
  const ExperimentState& before = *c.state.experiment(e.experiment);
  ResultCorrectedEvent corrected;
  corrected.experiment = e.experiment;
  corrected.values = e.values;
  corrected.objective = e.values.at(c.config.objective.name);
  const bool had_failed = before.outcome == ExperimentOutcome::failed;
  corrected.previous_values = had_failed ? nlohmann::json::object() : before.values;
  corrected.previous_objective = before.objective.value_or(0);
  if (had_failed) corrected.previous_error = before.error;
  corrected.reason = reason;
  corrected.by = e.by;
  journal.append(std::string(event_name(corrected)), encode_fields(corrected));
  if (key) {
    const JournalSignedEvent signed_head = sign_journal_head(*key, c.state.campaign_id().value_or(""), journal.last_seq(), journal.last_hash());
    journal.append(std::string(event_name(signed_head)), encode_fields(signed_head));
  }
  // Every value that changed, the objective first: "yield 50 → 50" was all it said when purity
  // went from 100 to 80 (and the result stopped counting).
  const auto shown = [](const nlohmann::json* v) {
    return !v ? std::string("(none)") : v->is_number() ? fmt::format("{}", v->get<double>()) : printable(v->is_string() ? v->get<std::string>() : v->dump());
  };
  std::vector<std::string> names{c.config.objective.name};
  for (const nlohmann::json* values : {&corrected.previous_values, &corrected.values})
    if (values->is_object())
      for (const auto& item : values->items())
        if (std::find(names.begin(), names.end(), item.key()) == names.end()) names.push_back(item.key());
  std::vector<std::string> changes;
  for (const std::string& name : names) {
    const auto find = [&](const nlohmann::json& values) {
      const auto it = values.is_object() ? values.find(name) : values.end();
      return it != values.end() ? &*it : nullptr;
    };
    const nlohmann::json *was = find(corrected.previous_values), *now = find(corrected.values);
    if ((was && now && *was == *now) || (!was && !now)) continue;
    changes.push_back(fmt::format("{} {} → {}", printable(name), shown(was), shown(now)));
  }
  if (had_failed)
    changes.insert(changes.begin(), fmt::format("failed ({}) → a result", printable(before.error)));
  fmt::print("corrected {}: {} ({}); the journal keeps both, and the planner learns the new values when the campaign resumes\n", e.experiment,
             fmt::join(changes, ", "), reason);
  // results.csv and the plots show the corrected values now (docs/howto-manual.md), as status
  // does; they were rewritten only by the next resume.
  try {
    const Campaign now = open_campaign(command.directory);
    write_campaign_reports(now.config, now.state, now.directory);
  } catch (const Error& error) {
    fmt::print(stderr, "note: the correction is journaled, but results.csv and the plots could not be rewritten ({}); labloop resume rewrites them\n",
               error.what());
  }
  return 0;
}

}  // namespace

int enter(const EnterCommand& command) {
  const Campaign c = open_campaign(command.directory);
  // `labloop enter DIR yield=5`: the first value was taken for the experiment, and the reply asked
  // for the values that were given. No id holds '=' (entry_path), so it is the id that is missing.
  if (command.csv.empty() && command.experiment.find('=') != std::string::npos)
    throw ConfigError("labloop enter", "EXPERIMENT",
                      fmt::format("the experiment id is missing (\"{}\" is a value, not an experiment id): give it first, labloop enter {} "
                                  "EXPERIMENT {}{}; `labloop pending {}` lists the experiments waiting",
                                  printable(command.experiment), printable(path_word(command.directory)),
                                  printable(shell_word(command.experiment)), command.values.empty() ? "" : " …",
                                  printable(path_word(command.directory))));
  if (command.correct) return correct(command, c);
  std::vector<ManualEntry> entries;
  size_t accepted = 0, refused = 0, unsaved = 0;
  if (!command.csv.empty()) {
    if (!command.experiment.empty() || !command.values.empty() || command.failed)
      throw ConfigError("labloop enter", "--csv", "give either --csv FILE or EXPERIMENT with values, not both");
    EntryFile file;
    try {
      file = read_entry_csv(command.csv, c.config);
    } catch (const ConfigError&) {
      throw;
    } catch (const Error& e) {
      throw ConfigError("labloop enter", "--csv", e.what());  // no such file, a folder, not a table: exit 2
    }
    if (!file.ignored_columns.empty()) fmt::print("{}: ignored columns (not outputs): {}\n", command.csv, fmt::join(file.ignored_columns, ", "));
    if (!file.blank_rows.empty()) fmt::print("{}: skipped {} with no values: {}\n", command.csv, plural(file.blank_rows.size(), "row"), fmt::join(file.blank_rows, ", "));
    entries = std::move(file.entries);
    for (const auto& [row, why] : file.refused) {
      ++refused;
      fmt::print("refused {} ({}): {}\n", row.experiment.empty() ? "(no experiment id)" : row.experiment, row.source, why);
    }
  } else {
    if (command.experiment.empty()) throw ConfigError("labloop enter", "EXPERIMENT", "name the experiment (`labloop pending` lists them), or give --csv FILE");
    ManualEntry e;
    e.experiment = command.experiment;
    e.source = "command line";
    try {
      parse_assignments(command.values, e);
    } catch (const Error& bad) {
      // A value that is no number (or a name given twice) is a refused entry, as one out of range
      // is: the same exit status, 2, and nothing saved.
      fmt::print("refused {}: {}\n", e.experiment, bad.what());
      return 2;
    }
    if (command.failed) e.failed = trimmed(*command.failed);
    if (e.values.empty() && !e.failed) throw ConfigError("labloop enter", "VALUES", "give the measured values (e.g. yield=71.5), or --failed \"reason\"");
    entries.push_back(std::move(e));
  }
  // Trimmed, as the console and --csv cells are: "  Ana" and "Ana " are the person Ana, and what
  // is kept is what a reader sees.
  const std::string by = trimmed(command.by.value_or(os_user_name()));
  for (auto& e : entries) {
    e.by = by;
    e.at = utc_now_iso();
    const std::string shown_id = e.experiment.empty() ? "(no experiment id)" : e.experiment;
    const std::string row = e.source == "command line" ? "" : " (" + e.source + ")";
    if (std::string why = check_entry(c.config, c.state, e); !why.empty()) {
      ++refused;
      fmt::print("refused {}{}: {}\n", shown_id, row, printable(why));
      continue;
    }
    try {
      write_entry(c.directory, e);
    } catch (const Error& error) {
      // Not a mistake in the entry (a folder it cannot write, something in the inbox's way): a
      // problem to fix, exit 1, unless it is the entry already there.
      const bool entered_before = std::string_view(error.what()).find("an entry is never replaced") != std::string_view::npos;
      ++(entered_before ? refused : unsaved);
      fmt::print("{} {}{}: {}\n", entered_before ? "refused" : "not saved", shown_id, row, printable(error.what()));
      continue;
    }
    ++accepted;
    std::vector<std::string> shown;
    for (const auto& [name, value] : e.values) shown.push_back(fmt::format("{}={}", name, value));
    fmt::print("entered {}: {}\n", e.experiment, e.failed ? "failed: " + printable(*e.failed) : fmt::format("{}", fmt::join(shown, " ")));
  }
  if (accepted > 0)
    fmt::print("{}\n", campaign_running(c.journal) ? "the running campaign records them within a second"
                                                   : fmt::format("the campaign is not running: `labloop resume {}` records them", path_word(command.directory)));
  return unsaved > 0 ? 1 : refused > 0 ? 2 : 0;
}

}  // namespace labloop::cli
