#include "labloop/campaign/manual_entry.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>

#include "labloop/core/append_file.hpp"
#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/small_file.hpp"
#include "labloop/core/unique_fd.hpp"
#include "labloop/core/utc_time.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/report.hpp"
#include "labloop/core/json_check.hpp"

namespace labloop {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string os_error(int err) { return std::strerror(err); }


void write_all(int fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("{}: cannot write: {}", path.string(), os_error(errno)));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void fsync_dir(const fs::path& dir) {
  UniqueFd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY)};
  if (d.get() >= 0) ::fsync(d.get());
}

// A temporary name in the inbox, removed on every way out of write_entry once it was made: one
// whose write or fsync failed (a full disk) was left behind as inbox/.<experiment>.<pid>.tmp for good.
class TemporaryName {
 public:
  TemporaryName(int dir, std::string name) : dir_(dir), name_(std::move(name)) {}
  TemporaryName(const TemporaryName&) = delete;
  TemporaryName& operator=(const TemporaryName&) = delete;
  ~TemporaryName() { remove(); }

  // Before the inbox's fsync, so that its removal is on disk with the entry.
  void remove() noexcept {
    if (!name_.empty()) ::unlinkat(dir_, name_.c_str(), 0);
    name_.clear();
  }

 private:
  int dir_;
  std::string name_;
};

const InstrumentConfig* instrument_named(const CampaignConfig& config, const std::string& name) {
  for (const auto& ic : config.instruments)
    if (ic.name == name) return &ic;
  return nullptr;
}

}  // namespace

json ManualEntry::to_json() const {
  json j{{"experiment", experiment}};
  if (failed) j["failed"] = *failed;
  else j["values"] = values;
  j["by"] = by;
  j["at"] = at;
  j["source"] = source;
  return j;
}

ManualEntry ManualEntry::from_json(const json& j, const std::string& where) {
  ManualEntry e;
  try {
    const JsonNode node(j, "", where);
    node.expect_object({"experiment", "values", "failed", "by", "at", "source"});
    e.experiment = node.child("experiment").as_string();
    // A name and a reason trimmed, as labloop enter and the console trim what is typed.
    if (node.has("failed")) e.failed = trimmed(node.child("failed").as_string());
    if (node.has("values")) {
      const JsonNode values = node.child("values");
      if (!values.value().is_object()) values.fail("must be an object of NAME: number");
      for (const auto& [name, value] : values.value().items()) {
        const double v = values.child(name).as_number();
        if (!std::isfinite(v)) values.child(name).fail("must be a finite number");
        e.values[name] = v;
      }
    }
    if (node.has("by")) e.by = trimmed(node.child("by").as_string());
    if (node.has("at")) e.at = node.child("at").as_string();
    if (node.has("source")) e.source = node.child("source").as_string();
  } catch (const ConfigError& bad) {
    throw Error(fmt::format("not a result entry: {}", bad.what()));
  }
  if (!e.failed && e.values.empty()) throw Error(fmt::format("{}: not a result entry: it has neither values nor a failure", where));
  return e;
}

fs::path inbox_dir(const fs::path& campaign_dir) { return campaign_dir / "inbox"; }

fs::path entry_path(const fs::path& campaign_dir, const std::string& experiment) {
  // An id names a file in inbox/: only what labloop writes in ids (letters, digits, '_', '-', '.'
  // from the campaign's name and its counters), so an id from an edited journal cannot reach
  // outside the folder.
  const bool usable = !experiment.empty() && experiment.size() <= 128 && experiment != "." && experiment != ".." &&
                      std::all_of(experiment.begin(), experiment.end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                      });
  if (!usable)
    throw Error(fmt::format("experiment id {} cannot name a file in inbox/: labloop writes ids of at most 128 letters, digits, '_', '-' "
                            "and '.' (the journal was edited)",
                            json(experiment).dump(-1, ' ', false, json::error_handler_t::replace)));
  return inbox_dir(campaign_dir) / (experiment + ".json");
}

namespace {

// The campaign's inbox folder, made if need be and opened as itself: never a link to a folder
// elsewhere (an entry was written through one), never something else in its place.
UniqueFd open_inbox(const fs::path& campaign_dir) {
  const fs::path dir = inbox_dir(campaign_dir);
  std::error_code ec;
  if (fs::create_directory(dir, ec)) {
    // With the campaign folder's permissions, not the umask of whoever enters first: in a folder
    // shared by a group (one login per technician, docs/console.md), an inbox made 0755 by one
    // person refused every other's entries.
    struct stat folder {};
    if (::stat(campaign_dir.c_str(), &folder) == 0) (void)::chmod(dir.c_str(), folder.st_mode & (S_IRWXU | S_IRWXG | S_IRWXO | S_ISGID));
    fsync_dir(campaign_dir);
  }
  if (ec && ec != std::errc::file_exists) throw Error(fmt::format("{}: cannot create the inbox: {}", dir.string(), ec.message()));
  UniqueFd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (d.get() >= 0) return d;
  const int err = errno;
  if (err == ELOOP || fs::is_symlink(fs::symlink_status(dir, ec)))
    throw Error(fmt::format("{} is a symbolic link, not the campaign's inbox folder; remove it (labloop makes the folder), then enter again",
                            dir.string()));
  if (err == ENOTDIR)
    throw Error(fmt::format("{} is in the way: it is not a folder; remove it (labloop makes the inbox folder), then enter again", dir.string()));
  throw Error(fmt::format("{}: cannot open the inbox: {}", dir.string(), os_error(err)));
}

}  // namespace

void write_entry(const fs::path& campaign_dir, const ManualEntry& entry) {
  // What read_entry would not read is not saved: an entry is never replaced, so it would block
  // the experiment for good. check_entry keeps every field far below this; this is the backstop.
  const std::string text = entry.to_json().dump() + "\n";
  if (text.size() > kMaxEntryBytes)
    throw Error(fmt::format("{}: the entry would be {} bytes; an entry is at most {} bytes", entry.experiment, text.size(), kMaxEntryBytes));
  const fs::path target = entry_path(campaign_dir, entry.experiment);
  const UniqueFd dir = open_inbox(campaign_dir);
  const std::string target_name = target.filename().string();
  const std::string temp_name = fmt::format(".{}.{}.tmp", entry.experiment, ::getpid());
  const fs::path temp = inbox_dir(campaign_dir) / temp_name;
  // One writer at a time in this process: the console writes entries from several threads, and two
  // sharing the temporary name could link one's bytes under the other's success.
  static std::mutex writing;
  std::lock_guard one_at_a_time(writing);
  std::optional<TemporaryName> temporary;
  {
    // Not through a link planted under the temporary name: it would be cut short and overwritten.
    UniqueFd f{::openat(dir.get(), temp_name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)};
    if (f.get() < 0 && refused_as_link(temp.string(), errno)) throw Error(symbolic_link_refusal(temp.string()));
    if (f.get() < 0 && errno == EACCES) {
      struct stat inbox {};
      const std::string whose = ::fstat(dir.get(), &inbox) == 0 ? fmt::format(" (it belongs to user {}, group {}, mode {:04o})", inbox.st_uid,
                                                                               inbox.st_gid, inbox.st_mode & 07777)
                                                                 : std::string();
      throw Error(fmt::format("{}: this login may not write in the campaign's inbox folder{}: enter as a user who may, or have its owner "
                              "let the group write there (chmod g+w {})",
                              inbox_dir(campaign_dir).string(), whose, shell_word(inbox_dir(campaign_dir).string())));
    }
    if (f.get() < 0) throw Error(fmt::format("{}: cannot create: {}", temp.string(), os_error(errno)));
    temporary.emplace(dir.get(), temp_name);
    write_all(f.get(), text, temp);
    if (::fsync(f.get()) != 0) throw Error(fmt::format("{}: cannot write to disk: {}", temp.string(), os_error(errno)));
  }
  // link() refuses an existing name, so two people entering the same experiment cannot overwrite
  // each other; rename() would replace silently.
  const int rc = ::linkat(dir.get(), temp_name.c_str(), dir.get(), target_name.c_str(), 0);
  const int err = errno;
  temporary->remove();
  if (rc != 0 && err == EEXIST) {
    std::error_code status_error;
    if (!fs::is_regular_file(fs::symlink_status(target, status_error)))
      throw Error(fmt::format("{} is in the way: it is not an entry file (a link, a folder or a device); remove it, then enter again",
                              target.string()));
    std::optional<ManualEntry> earlier;
    try {
      earlier = read_entry(campaign_dir, entry.experiment);
    } catch (const Error& e) {
      throw Error(fmt::format("{} is in the way: {}; remove it, then enter again", target.string(), e.what()));
    }
    const std::string who = earlier && !earlier->by.empty() ? fmt::format(" by {} at {}", printable(earlier->by), earlier->at) : std::string();
    throw Error(fmt::format("{} already has an entered result{} ({}); an entry is never replaced: until the campaign records it, "
                            "deleting that file lets it be entered again; once recorded, `labloop enter --correct` corrects it",
                            entry.experiment, who, target.string()));
  }
  if (rc != 0) throw Error(fmt::format("{}: cannot create: {}", target.string(), os_error(err)));
  if (::fsync(dir.get()) != 0) throw Error(fmt::format("{}: cannot write to disk: {}", inbox_dir(campaign_dir).string(), os_error(errno)));
}

std::optional<ManualEntry> read_entry(const fs::path& campaign_dir, const std::string& experiment) {
  const fs::path path = entry_path(campaign_dir, experiment);
  const SmallFile file = read_small_file(path, kMaxEntryBytes);
  switch (file.status) {
    case SmallFile::Status::read: break;
    case SmallFile::Status::missing: return std::nullopt;
    case SmallFile::Status::link: throw Error(fmt::format("{} is a symbolic link, not an entry file; remove it, then enter again", path.string()));
    case SmallFile::Status::not_regular:
      throw Error(fmt::format("{} is not an entry file ({}); remove it, then enter again", path.string(), file.reason));
    case SmallFile::Status::too_large: throw Error(fmt::format("{}: an entry is at most {} bytes", path.string(), kMaxEntryBytes));
    case SmallFile::Status::unreadable: throw Error(fmt::format("{}: cannot read: {}", path.string(), file.reason));
  }
  // The parser keeps the last of a repeated key: {"yield": 5, "yield": 50} would be read as 50
  // without a word, where `enter yield=5 yield=50` is refused. Repeats are refused here too.
  std::optional<std::string> repeated;
  json j;
  try {
    j = parse_json_noting_repeats(file.text, false, repeated);
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("{}: not valid JSON {}", path.string(), json_syntax_error(file.text, e)));
  } catch (const json::exception&) {
    throw Error(fmt::format("{}: not valid JSON", path.string()));
  }
  if (repeated) throw Error(fmt::format("{}: not a result entry: {} is given twice", path.string(), *repeated));
  return ManualEntry::from_json(j, path.string());
}

namespace {
std::string text_too_long(const char* what, const std::string& text);
constexpr std::time_t kEntryClockGrace = 3600;  // seconds an entry's "at" may lie ahead of this clock, or before its experiment

// Whether an entry's "at" lies more than kEntryClockGrace before `since` (its experiment's
// proposal): made for something else, or on a computer whose clock is that far behind.
bool entered_long_before(const std::string& at, std::chrono::system_clock::time_point since) {
  const auto t = parse_utc_iso(at);
  return t && std::chrono::system_clock::from_time_t(*t) + std::chrono::seconds(kEntryClockGrace) < since;
}
}  // namespace

std::optional<ManualEntry> read_checked_entry(const fs::path& campaign_dir, const std::string& experiment, const CampaignConfig& config,
                                              std::optional<std::chrono::system_clock::time_point> exists_since) {
  std::optional<ManualEntry> entry = read_entry(campaign_dir, experiment);
  if (!entry) return entry;
  std::string why = entry->experiment == experiment
                        ? check_entry_content(config, *entry)
                        : fmt::format("it names experiment \"{}\", but its file is {}'s", entry->experiment, experiment);
  // When and from where, which labloop writes itself: a file written another way holds them too,
  // as plain facts, for they become the result's entered_at and entered_from in the journal.
  if (why.empty() && !is_utc_iso(entry->at))
    why = fmt::format("its \"at\" is {}, not a UTC time as labloop writes it (\"at\": \"{}\", when it was entered)",
                      entry->at.empty() ? "missing" : "\"" + printable(entry->at.substr(0, 40)) + "\"", utc_now_iso());
  // A time yet to come is no time it was entered (9999-12-31 went into the journal as it was). An
  // hour's grace: the computer `enter` ran on may keep another time. Both are written to the second
  // in one shape, so they compare as text.
  if (why.empty() && entry->at > utc_text(std::time(nullptr) + kEntryClockGrace, "%Y-%m-%dT%H:%M:%SZ"))
    why = fmt::format("its \"at\" is {}, later than this computer's clock ({}) by more than an hour: write when it was entered",
                      printable(entry->at), utc_now_iso());
  if (why.empty() && exists_since && entered_long_before(entry->at, *exists_since))
    why = fmt::format("its \"at\" is {}, more than an hour before {} was proposed: it is an entry for something else (left from another "
                      "campaign?)",
                      entry->at, experiment);
  if (why.empty()) why = text_too_long("where it was entered (\"source\")", entry->source);
  if (!why.empty())
    throw Error(fmt::format("{}: refused, not recorded: {}", entry_path(campaign_dir, experiment).string(), why));
  return entry;
}

namespace {

// A dry run's manual instruments are stand-ins that make their results up, as its others are: no
// person runs its experiments, and what a person entered was journaled with the stand-in's values
// under that person's name (a red-team report).
constexpr const char* kDryRunTakesNoEntries =
    "this campaign is a dry run: every instrument, a person's too, was a stand-in that makes its results up, so nothing is entered or "
    "corrected in it (run the campaign without --dry-run to record real results)";

}  // namespace

std::vector<PendingExperiment> pending_experiments(const fs::path& campaign_dir, const CampaignConfig& config, const CampaignState& state) {
  std::vector<PendingExperiment> pending;
  if (state.dry_run()) return pending;  // kDryRunTakesNoEntries
  for (const ExperimentState* e : state.open_experiments()) {
    if (!e->assigned_to) continue;
    const InstrumentConfig* ic = instrument_named(config, *e->assigned_to);
    if (!ic || !ic->is_manual()) continue;
    PendingExperiment p{e, ic->name, std::nullopt, {}};
    try {
      p.entered = read_checked_entry(campaign_dir, e->id, config, parse_journal_time(e->proposed_at));
    } catch (const Error& bad) {
      p.unreadable = bad.what();
    }
    pending.push_back(std::move(p));
  }
  return pending;
}

namespace {

const Parameter* parameter_named(const CampaignConfig& config, const std::string& name) {
  const auto it = std::find_if(config.parameters.begin(), config.parameters.end(), [&](const Parameter& p) { return p.name == name; });
  return it == config.parameters.end() ? nullptr : &*it;
}

// A settings cell of enter --csv against what the experiment was sent: the same number (written
// otherwise: "50.0" for 50) or choice, or empty (not filled in); "" when it agrees. A failed
// entry may say it ran otherwise. The same number is judged on the parameter's own scale, so an
// edit shows however small its values: within 1e-9 of its declared range (log-scaled: of
// log(high/low), relative to the value; discrete: the same level), plus 1e-12 of the value for a
// spreadsheet that saved it with 15 digits instead of pending --csv's shortest round trip. A fixed
// 1e-9 took any edit within a range such as [1e-12, 2e-12].
std::string check_settings(const CampaignConfig& config, const ExperimentState& e, const ManualEntry& entry) {
  if (entry.failed) return {};
  for (const auto& [name, cell] : entry.settings) {
    const Parameter* p = parameter_named(config, name);
    if (!p || cell.empty() || !e.params.is_object() || !e.params.contains(name)) continue;
    const nlohmann::json& sent = e.params[name];
    bool same = false;
    if (p->type == ParameterType::categorical) {
      same = sent.is_string() && csv_choice(p->choices, cell) == sent.get<std::string>();
    } else if (const auto v = parse_number(cell); v && sent.is_number()) {
      const double want = sent.get<double>();
      if (const int level = p->type == ParameterType::discrete ? p->level_index(want) : -1; level >= 0) {
        same = p->level_index(*v) == level;
      } else {
        const double range = p->log && p->low > 0 ? std::log(p->high / p->low) * std::fabs(want) : p->high - p->low;
        same = std::fabs(*v - want) <= 1e-9 * range + 1e-12 * std::fabs(want);
      }
    }
    if (!same)
      return fmt::format("its {} column reads {}, but {} was sent with {} = {}: a result is recorded for the settings sent. Undo the edit, "
                         "or, if it ran at other settings, enter it as failed and say so",
                         name, printable(cell.substr(0, 100)), entry.experiment, name, sent.is_string() ? sent.get<std::string>() : sent.dump());
  }
  return {};
}

}  // namespace

std::string check_entry(const CampaignConfig& config, const CampaignState& state, const ManualEntry& entry, EntryWording wording) {
  if (state.dry_run()) return kDryRunTakesNoEntries;
  const ExperimentState* e = state.experiment(entry.experiment);
  if (!e || !e->proposed) {
    std::vector<std::string> open;
    for (const auto* o : state.open_experiments()) open.push_back(o->id);
    return fmt::format("this campaign has no experiment \"{}\"{} ({} those waiting)", entry.experiment, did_you_mean(entry.experiment, open),
                       wording == EntryWording::console ? "the page lists" : "`labloop pending` lists");
  }
  if (e->outcome != ExperimentOutcome::open)
    return fmt::format("{} already has its outcome ({} at {}); the journal keeps results as recorded", entry.experiment,
                       e->outcome == ExperimentOutcome::ok ? "a result" : "failed", e->finished_at);
  const InstrumentConfig* ic = e->assigned_to ? instrument_named(config, *e->assigned_to) : nullptr;
  if (!ic || !ic->is_manual())
    return fmt::format("{} is not waiting for a person ({}); only experiments on manual instruments take entered results", entry.experiment,
                       e->assigned_to ? "it runs on instrument '" + *e->assigned_to + "'" : "it is not dispatched yet");
  if (std::string why = check_settings(config, *e, entry); !why.empty()) return why;
  // The campaign refuses an entry made more than an hour before its experiment existed
  // (read_checked_entry): a clock that far behind here is said now, not after "entered".
  if (const auto proposed = parse_journal_time(e->proposed_at); proposed && entered_long_before(entry.at, *proposed))
    return fmt::format("this computer's clock says {}, more than an hour before {} was proposed ({}), so the campaign would refuse the entry "
                       "as one for something else: set this computer's clock right, then enter again",
                       entry.at, entry.experiment, e->proposed_at);
  return check_entry_content(config, entry, wording);
}

namespace {

// Why a free-text field cannot be kept ("" when it can): too long, or not plain text on one line
// (it goes to the journal and to terminals: pending, status, the campaign's log).
std::string text_too_long(const char* what, const std::string& text) {
  if (text.size() > kMaxEntryText) return fmt::format("{} is {} bytes long; at most {} bytes are kept (shorten it)", what, text.size(), kMaxEntryText);
  if (const std::string problem = plain_text_problem(text); !problem.empty())
    return fmt::format("{} {}; write it as plain text on one line", what, problem);
  return {};
}

}  // namespace

std::string check_entry_content(const CampaignConfig& config, const ManualEntry& entry, EntryWording wording) {
  // The fields by the names the person filled in: the command line's options, or the console
  // form's labels (its "by" and "failed" for a script).
  const bool console = wording == EntryWording::console;
  const char* const by = console ? "your name (\"by\")" : "who entered it (--by)";
  // The journal's record of who entered it: a blank one names nobody (an inbox file without "by",
  // --by "   "); labloop enter and the console put the user's name there when none is typed.
  if (is_blank(entry.by)) return console ? "your name (\"by\") is blank; type a name" : "who entered it (--by) is blank; give a name";
  if (std::string why = text_too_long(by, entry.by); !why.empty()) return why;
  if (entry.failed) {
    if (!entry.values.empty()) return console ? "give either values or why it failed, not both" : "give either values or --failed, not both";
    if (is_blank(*entry.failed))
      return console ? "say why it failed" : "say why it failed (--failed \"reason\")";
    return text_too_long(console ? "why it failed (\"failed\")" : "the reason it failed (--failed)", *entry.failed);
  }
  return check_values(config, entry, wording);
}

std::string check_values(const CampaignConfig& config, const ManualEntry& entry, EntryWording wording) {
  const auto names = manual_outputs(config);
  for (const auto& [name, value] : entry.values) {
    if (std::find(names.begin(), names.end(), name) == names.end())
      return fmt::format("\"{}\" is not an output of this campaign{} (outputs: {}; declare more under \"outputs\")", name,
                         did_you_mean(name, names), fmt::join(names, ", "));
    if (!std::isfinite(value)) return fmt::format("{} must be a finite number", name);
    if (const OutputSpec* spec = config.find_output(name)) {
      const std::string unit = spec->unit.empty() ? "" : " " + spec->unit;
      // Every digit that tells the value from the bound (100.0000000001 is not "100"): shortest
      // round trip.
      if (spec->low && value < *spec->low) return fmt::format("{} = {} is below its declared range (low {}{})", name, value, *spec->low, unit);
      if (spec->high && value > *spec->high) return fmt::format("{} = {} is above its declared range (high {}{})", name, value, *spec->high, unit);
    }
  }
  for (const std::string& name : config.required_outputs()) {
    if (entry.values.contains(name)) continue;
    const bool objective = std::any_of(config.objectives.begin(), config.objectives.end(), [&](const Objective& o) { return o.name == name; });
    if (wording == EntryWording::console)
      return fmt::format("the {} \"{}\" is missing (fill in its box, or say why it failed and press Enter as failed)", objective ? "objective" : "output",
                         name);
    return fmt::format("the {} \"{}\" is missing (give {}=VALUE, or --failed \"reason\" when the experiment failed)", objective ? "objective" : "output",
                       name, name);
  }
  return {};
}

void parse_assignments(const std::vector<std::string>& words, ManualEntry& entry) {
  for (const auto& word : words) {
    const auto eq = word.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(fmt::format("\"{}\" is not NAME=VALUE (e.g. yield=71.5)", word));
    const std::string name = word.substr(0, eq);
    const auto value = parse_number(word.substr(eq + 1));
    if (!value) throw Error(fmt::format("{}: \"{}\" {}", name, word.substr(eq + 1), not_a_number_reason(word.substr(eq + 1))));
    if (entry.values.contains(name)) throw Error(fmt::format("{} is given twice", name));
    entry.values[name] = *value;
  }
}

EntryFile read_entry_csv(const fs::path& path, const CampaignConfig& config) {
  // A pipe would be waited on for ever and a folder read as an error from deep in the library:
  // refused at once, in words, as the candidates reader does.
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!ec && fs::is_directory(status)) throw Error(fmt::format("{} is a folder; name the CSV file itself (--csv FILE)", path.string()));
  if (!ec && !fs::is_regular_file(status))
    throw Error(fmt::format("{} is not a regular file (a device or a pipe); save the results as a CSV file and name it", path.string()));
  const CsvTable table = read_csv_table(path, {.max_rows = kMaxEntryRows});
  const auto outputs = manual_outputs(config);
  enum class Column { experiment, failed, output, setting, ignored };
  std::vector<Column> kinds;
  EntryFile file;
  // `labloop pending --csv` writes its cells as results.csv does (csv_cell): a name or id that starts
  // like a formula carries a leading ', which is not part of it.
  std::vector<std::string> header;
  for (const auto& cell : table.header) header.push_back(csv_text_value(cell));
  const auto kind_of = [&](const std::string& name) {
    if (name == "experiment") return Column::experiment;
    if (name == "failed") return Column::failed;
    if (std::find(outputs.begin(), outputs.end(), name) != outputs.end()) return Column::output;
    if (parameter_named(config, name)) return Column::setting;
    return Column::ignored;
  };
  for (const auto& name : header) {
    kinds.push_back(kind_of(name));
    if (kinds.back() == Column::ignored) file.ignored_columns.push_back(name);
  }
  // One column per name read, as the candidates reader asks: of two "temperature" columns only the
  // last was compared with the setting sent (an edited first copy went through), and of two
  // "experiment" columns the last named the row. Ignored columns may repeat (a spreadsheet's
  // unnamed ones).
  if (std::string why = repeated_column(path.string(), header, [&](const std::string& name) { return kind_of(name) != Column::ignored; });
      !why.empty())
    throw Error(why);
  // A result in another unit than the campaign declares would be recorded as if in its own.
  for (std::size_t i = 0; i < kinds.size(); ++i)
    if (const OutputSpec* spec = kinds[i] == Column::output ? config.find_output(header[i]) : nullptr)
      if (std::string why = unit_conflict(path.string(), i + 1, header[i], table.units[i], spec->unit); !why.empty()) throw Error(why);
  if (std::find(kinds.begin(), kinds.end(), Column::experiment) == kinds.end())
    throw Error(fmt::format("{}: line 1 must be a header with an \"experiment\" column (got: {})", path.string(), fmt::join(table.header, ",")));
  // No column an output or "failed": every row would be skipped as not measured yet, and a plate
  // of results whose header misspells the output ("yield[%]") was saved as nothing, exit 0.
  if (std::none_of(kinds.begin(), kinds.end(), [](Column k) { return k == Column::output || k == Column::failed; })) {
    std::vector<std::string> hints;
    for (const std::string& name : file.ignored_columns) {
      // A unit written against the name ("yield[%]") is no part of it.
      std::string base = name.substr(0, name.find_first_of("[("));
      while (!base.empty() && base.back() == ' ') base.pop_back();
      if (std::string hint = did_you_mean(base, outputs); !hint.empty()) hints.push_back(fmt::format("\"{}\"{}", name, hint));
    }
    throw Error(fmt::format("{}: no column of line 1 is an output of this campaign ({}) or \"failed\", so no result could be read{}", path.string(),
                            fmt::join(outputs, ", "), hints.empty() ? "" : fmt::format(": {}", fmt::join(hints, "; "))));
  }
  for (const CsvRow& row : table.rows) {
    ManualEntry e;
    e.source = fmt::format("{} line {}", path.filename().string(), row.line);
    std::string why;
    for (size_t i = 0; i < kinds.size(); ++i) {
      const std::string& cell = row.fields[i];
      // Trimmed of Unicode's blanks too, as values are (howto-manual): a no-break space a
      // spreadsheet kept after the id made it no id of this campaign.
      if (kinds[i] == Column::experiment) e.experiment = trimmed(csv_text_value(trimmed(cell)));
      else if (kinds[i] == Column::failed && !is_blank(cell)) e.failed = trimmed(cell);  // as a typed reason is
      else if (kinds[i] == Column::setting) e.settings[header[i]] = cell;
      else if (kinds[i] == Column::output && !is_blank(cell)) {
        const std::string& name = header[i];
        const auto v = parse_number(cell);
        if (!v && why.empty()) why = fmt::format("{}: \"{}\" {}", name, cell, not_a_number_reason(cell));
        else if (v) e.values[name] = *v;
      }
    }
    if (!why.empty()) {
      file.refused.emplace_back(std::move(e), std::move(why));
      continue;
    }
    if (e.values.empty() && !e.failed) {
      file.blank_rows.push_back(row.line);  // not measured yet: a template row left empty
      continue;
    }
    file.entries.push_back(std::move(e));
  }
  return file;
}

std::string check_correction(const CampaignConfig& config, const CampaignState& state, const ManualEntry& entry) {
  if (state.dry_run()) return kDryRunTakesNoEntries;
  const ExperimentState* e = state.experiment(entry.experiment);
  if (!e || !e->proposed) return fmt::format("this campaign has no experiment \"{}\"", entry.experiment);
  // An entry made and not yet recorded waits in the inbox: "enter it" alone sent a person to
  // enter, which refuses a second entry (a red-team report).
  if (e->outcome == ExperimentOutcome::open)
    return fmt::format("{} has no recorded result to correct: it is still open. Enter its result; one entered already waits in the "
                       "campaign's inbox until the campaign runs or resumes and records it: correct it after that, or delete "
                       "inbox/{}.json first and enter it again",
                       entry.experiment, entry.experiment);
  // A failure the planner was not told is no verdict to correct: it was tried again under another
  // id (correct that one), or never run.
  if (e->outcome == ExperimentOutcome::failed && e->retry_as)
    return fmt::format("{} failed and was tried again as {}: correct that one", entry.experiment, *e->retry_as);
  if (e->outcome == ExperimentOutcome::failed && !e->learned)
    return fmt::format("{} has no result to correct: it ended without one ({})", entry.experiment, printable(e->error));
  const InstrumentConfig* ic = instrument_named(config, e->instrument);
  if (!ic || !ic->is_manual())
    return fmt::format("{} was measured by instrument '{}'; only results a person entered can be corrected", entry.experiment, e->instrument);
  if (entry.failed) return "a correction gives the right values (a recorded result cannot become a failure)";
  if (is_blank(entry.by)) return "who corrected it (--by) is blank; give a name";
  if (std::string why = text_too_long("who corrected it (--by)", entry.by); !why.empty()) return why;
  if (std::string why = check_values(config, entry); !why.empty()) return why;
  // A correction that changes nothing would only add a line saying so.
  const bool same = std::all_of(entry.values.begin(), entry.values.end(), [&](const auto& named) {
                      const auto it = e->values.find(named.first);
                      return it != e->values.end() && it->is_number() && it->template get<double>() == named.second;
                    }) && entry.values.size() == e->values.size();
  if (same) return fmt::format("these are the values already recorded for {}; nothing to correct", entry.experiment);
  return {};
}

bool campaign_running(const fs::path& journal) {
  // The campaign holds an exclusive flock for as long as it runs (journal.hpp), on the lock file
  // beside the journal and (as earlier versions did only) on the journal; a shared one is refused
  // exactly then, and taking it briefly disturbs nobody.
  const auto held = [](const fs::path& file) {
    // Without waiting: a journal that is a pipe would block the open until a writer came (readers
    // then refuse it as no regular file).
    UniqueFd f{::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    if (f.get() < 0) return false;
    if (::flock(f.get(), LOCK_SH | LOCK_NB) != 0) return errno == EWOULDBLOCK;
    ::flock(f.get(), LOCK_UN);
    return false;
  };
  return held(journal_lock_path(journal)) || held(journal);
}

std::vector<std::string> manual_outputs(const CampaignConfig& config) {
  std::vector<std::string> names = config.required_outputs();
  for (const auto& o : config.outputs)
    if (std::find(names.begin(), names.end(), o.name) == names.end()) names.push_back(o.name);
  return names;
}

}  // namespace labloop
