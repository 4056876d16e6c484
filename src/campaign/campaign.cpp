// The campaign loop. One thread owns everything: instruments' sockets, the planner, the journal.
// Order of operations is what makes the journal trustworthy: an event is appended (and fsynced)
// before the action it records has consequences — "proposed" before the planner's point is used,
// "dispatched" right after `run` is queued, outcomes before the planner learns them.
#include "labloop/campaign/campaign.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <ctime>
#include <sys/stat.h>
#include <cmath>
#include <deque>
#include <map>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "dry_run_instrument.hpp"
#include "manual_instrument.hpp"
#include "labloop/campaign/experiment_book.hpp"
#include "labloop/campaign/goals.hpp"
#include "labloop/campaign/note_throttle.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/small_file.hpp"
#include "labloop/core/utc_time.hpp"
#include "labloop/wire/instrument.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/wire/protocol.hpp"
#include "labloop/campaign/manual_entry.hpp"
#include "labloop/campaign/stop_request.hpp"
#include "labloop/campaign/prior_results.hpp"
#include "labloop/campaign/candidates.hpp"
#include "labloop/campaign/descriptor_copies.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/campaign/simulator_catalogue.hpp"
#include "labloop/journal/report.hpp"
#include "labloop/campaign/pareto_report.hpp"
#include "labloop/core/version.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/core/os_user.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/journal/signing.hpp"

namespace labloop {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr size_t kIdTagChars = 12;  // of the campaign id, in experiment ids: 48 random bits
constexpr int kMostPerAsk = 64;     // proposals per ask: a huge declared capacity must not stall the loop
// Messages read from one driver in a row (poll_messages), a few milliseconds' work: a driver
// that sends as fast as we read must not hold the loop.
constexpr int kMaxMessagesPerPoll = 1000;
// How long a simulator this campaign started may take to answer while its process runs: an
// emulator refitting its data (a dataset edited since its stored fit) takes a minute or more
// before it listens. A process that exits is reported at once; connect_timeout_s, when longer, wins.
constexpr double kSimulatorStartS = 600;
// With a controller key the journal is signed at every stop and at the end, and also after this
// many events or this long since the last signature, whichever comes first: a `kill -9` leaves
// at most that much unsigned (docs/security.md (Signed records)).
constexpr int kSignEveryEvents = 100;
constexpr auto kSignEvery = std::chrono::minutes(10);

// A private directory for ipc endpoints (their paths must stay short: ~100 bytes). Its owner
// holds a lock on owner.lock in it for as long as it runs, so that the next campaign can remove
// the folders of controllers that were killed (SIGKILL runs no destructor) — and only those: a
// lock, unlike a pid, is seen across PID namespaces (a container sharing /tmp took a running
// campaign's pid for a dead one, removed its sockets, and the campaign lost its simulator).
class TempDir {
 public:
  TempDir() {
    std::error_code unusable;
    const fs::path tmp = fs::temp_directory_path(unusable);
    if (unusable)
      throw Error(fmt::format("no folder for temporary files{}: {} (labloop keeps its simulators' sockets there; set TMPDIR to a folder "
                              "that exists and is writable)",
                              std::getenv("TMPDIR") ? fmt::format(" (TMPDIR={})", std::getenv("TMPDIR")) : std::string(), unusable.message()));
    remove_orphans();
    std::string pattern = (tmp / "labloop-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw Error(fmt::format("cannot create a temporary directory in {}", fs::temp_directory_path().string()));
    path_ = pattern;
    // Locked under another name, then renamed into place: a campaign starting at the same moment
    // found owner.lock made and not yet locked, took this folder for an orphan and removed it
    // (a simulator's socket then could not be bound).
    lock_fd_ = ::open((path_ / "owner.lock.new").c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd_ >= 0) {
      (void)::flock(lock_fd_, LOCK_EX | LOCK_NB);
      (void)::rename((path_ / "owner.lock.new").c_str(), (path_ / "owner.lock").c_str());
    }
    // For older versions' cleaners, which know only this.
    if (FILE* f = std::fopen((path_ / "owner.pid").c_str(), "w")) {
      std::fprintf(f, "%ld\n", static_cast<long>(::getpid()));
      std::fclose(f);
    }
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  // Only folders whose owner is gone: one whose owner.lock nobody holds, or (written by an older
  // version, without owner.lock) whose owner.pid names no process. A running campaign's folder,
  // or one that names no owner, is never touched.
  static void remove_orphans() {
    std::error_code ec;
    for (fs::directory_iterator it(fs::temp_directory_path(ec), ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind("labloop-", 0) != 0 || name.size() != 14) continue;
      if (const int lock = ::open((it->path() / "owner.lock").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW); lock >= 0) {
        const bool orphan = ::flock(lock, LOCK_EX | LOCK_NB) == 0;
        ::close(lock);
        std::error_code ignored;
        if (orphan) fs::remove_all(it->path(), ignored);
        continue;
      }
      // A controller killed before its lock took its name: unlocked, and older than any start
      // (a folder a minute old whose lock is not yet in place is no starting controller's).
      if (const int lock = ::open((it->path() / "owner.lock.new").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW); lock >= 0) {
        struct stat made {};
        const bool orphan = ::fstat(lock, &made) == 0 && std::time(nullptr) - made.st_mtime > 60 && ::flock(lock, LOCK_EX | LOCK_NB) == 0;
        ::close(lock);
        std::error_code ignored;
        if (orphan) fs::remove_all(it->path(), ignored);
        continue;
      }
      long pid = 0;
      if (FILE* f = std::fopen((it->path() / "owner.pid").c_str(), "r")) {
        if (std::fscanf(f, "%ld", &pid) != 1) pid = 0;
        std::fclose(f);
      }
      if (pid <= 0 || pid == ::getpid()) continue;
      if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        std::error_code ignored;
        fs::remove_all(it->path(), ignored);
      }
    }
  }

  fs::path path_;
  int lock_fd_ = -1;
};

// One instrument as the loop sees it: the link and whatever process or thread serves it (its
// policy state — lost, quarantined, busy, experiments in flight — is in the ExperimentBook).
struct LiveInstrument {
  size_t index = 0;
  const InstrumentConfig* config = nullptr;
  std::unique_ptr<Driver> stand_in;                     // dry run or manual: served in-process…
  std::jthread stand_in_server;                         // …by this thread (declared after: stops first)
  detail::ManualInstrument* person = nullptr;           // the stand-in when it is a person's entries (not in a dry run)
  std::optional<ChildProcess> simulator;                // simulator: labloop-sim child process
  std::vector<std::string> simulator_argv;              // to restart it when it dies
  std::string simulator_failure;                        // why the last restart could not start it
  int simulator_restarts = 0;
  Clock::time_point simulator_restarted{};
  std::unique_ptr<Instrument> link;
  bool awaiting_welcome = false;   // a hello went out after a reconnect; other welcomes are ignored
  // Times its driver's connection closed, or a new one was made (a driver restarted): one such
  // outage may bring more than one welcome (a hello on the new connection, another after a silence
  // the restart caused). A silence alone is no outage: the driver is there, perhaps busy.
  int outages = 0;
  // The busy answer that began the last outage (on_busy), empty when a closed or new connection
  // did: an experiment given up after its returns is then not said to have brought it down.
  std::string busy_outage;
  // A new connection to its driver (restarted?): nothing new is sent to it, and its open
  // experiments wait, until its welcome shows that the campaign still fits it.
  std::optional<std::chrono::steady_clock::time_point> hello_again_at;
  std::optional<std::chrono::steady_clock::time_point> welcome_wanted_since;  // the first hello since then
  std::chrono::steady_clock::time_point hello_sent_at{};  // the last one: asked again every connect timeout
  std::string hello_answer;  // what it answered that hello instead of a welcome ("busy: held by …"), for the log
  int hellos_unanswered = 0;  // hellos asked again since then, for the log
  // Hellos sent and not yet answered by a welcome. ZeroMQ keeps those sent while the driver is
  // away queued for it, and it answers each: the welcomes after the first are answers we asked
  // for, not unasked ones to note. At most ZeroMQ's send queue (1000 messages) can be queued.
  int hellos_waiting = 0;
  NoteThrottle chatter{""};        // notes about what it sends unasked: a flood shows as a count
  int busy_in_a_row = 0;           // runs rejected as busy since the last one it accepted
  std::string busy_reason;         // the last of them's reason ("busy: 1/1 experiments running")
  std::string last_error;          // the last `error` it sent ("internal: …"), for the note when it is lost
  std::chrono::steady_clock::time_point last_error_at{};
  int malformed_at_pong = 0;       // its link's malformed messages as of its last pong: more since, and it is "lost", say so
};

// One attempt at one of the planner's points. A retry is a new attempt with a new id (a result is
// final at the driver, protocol §4.3): "<origin>-r2", "<origin>-r3", …
struct Experiment {
  std::string id;
  std::string origin;  // the planner's proposal this attempt serves (its own id for attempt 1)
  int attempt = 1;
  Point x;       // canonical cube point (what really runs)
  Params params;  // user units
  int instrument = -1;  // -1 while waiting for dispatch
  Clock::time_point not_before{};  // retries wait out their backoff
  int returns = 0;  // outages of its instrument it was re-sent after
  int outages_seen = 0;  // its instrument's outage count when it was last sent
  // A person's: when its timeout found an entry in the inbox not yet read (waited for briefly).
  std::optional<Clock::time_point> entry_at_timeout;
};

// An experiment whose driver's connection closes (or is made afresh) and comes back this many
// times while it runs is given up (and retried under a new id, `retries` permitting): a setting
// that crashes its driver was re-sent to each restarted driver, which crashed again, for ever (a
// red-team report).
constexpr int kMostReturnsPerExperiment = 3;

std::vector<InstrumentPolicy> policies(const CampaignConfig& config) {
  std::vector<InstrumentPolicy> out;
  for (const InstrumentConfig& ic : config.instruments) out.push_back(InstrumentPolicy::of(ic));
  return out;
}

// A random 128-bit identity for a new campaign (hex). Experiment ids carry its first
// kIdTagChars characters, so that a driver's result cache can never answer this campaign with
// another's result for the same name and number (protocol §5).
std::string new_campaign_id() {
  if (sodium_init() < 0) throw Error("cannot initialise libsodium's random number generator");
  unsigned char bytes[16];
  randombytes_buf(bytes, sizeof bytes);
  char hex[2 * sizeof bytes + 1];
  sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  return hex;
}

std::vector<double> as_vector(const Point& x) { return std::vector<double>(x.data(), x.data() + x.size()); }

std::string sim_log_name(const std::string& instrument) { return instrument + ".log"; }

// Free bytes below which a simulator that exits at start with an empty log is said to have found
// the disk full: its cache's first line and its log's first message fit in less.
constexpr std::uintmax_t kRoomToStart = 4096;

// The controller's host name for the record of who ran what; nothing when the system has none.
std::optional<std::string> controller_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return std::nullopt;
  return std::string(name);
}

// The fingerprint of the driver's public key (its "security" section), for instrument_ready;
// nothing for a plaintext link.
std::optional<std::string> driver_key_fingerprint(const InstrumentConfig& ic) {
  if (!ic.keys) return std::nullopt;
  return ic.keys->server.fingerprint();
}

// How often a resume says how far rebuilding the planner has come.
constexpr auto kRebuildNoteEvery = std::chrono::seconds(5);

class CampaignRun {
 public:
  CampaignRun(const CampaignConfig& config, const CampaignOptions& options, CampaignObserver* observer)
      : config_(config), options_(options), observer_(observer), space_(config.space()), book_(policies(config), config.pause_on_failures) {
    output_ = campaign_output(config, options);
  }

  CampaignSummary run() {
    // Before anything is written: a key that cannot sign stops the run here.
    if (!config_.controller_key.empty()) key_ = read_controller_key(config_);
    if (options_.resume) {
      restore();
    } else {
      // Before the instruments start: their hello names it, so that a driver under exclusive
      // control is held by this campaign (protocol §12) and its `resume` takes it back.
      campaign_id_ = new_campaign_id();
      prepare_output();
      // Read before anything starts: a file that cannot be read stops the run with nothing written.
      if (!config_.candidates.empty()) candidates_ = read_candidates(config_);
      make_the_planner();
      if (!config_.prior_results.empty()) priors_ = read_prior_results(config_);
    }
    bool started = false;
    try {
      start_instruments();
      started = true;
      if (options_.budget_raise) journal(*options_.budget_raise);
      // A new campaign's journal starts once every instrument has answered and fits: a campaign
      // that cannot start (a wrong port, limits that do not fit) leaves no journal behind, and the
      // same `labloop run` works once the cause is fixed.
      if (!journal_) {
        adopt_instrument_noise();
        open_journal();
      }
      loop();
    } catch (const std::exception& e) {
      // A Ctrl-C while a resume's instruments start is the operator's stop, which a resume
      // continues (journaled as an error, status said to fix a cause there was none of).
      if (journal_ && !started && options_.stop.stop_requested()) finish(stop_text(StopReason::stopped_by_operator));
      else if (journal_ && !options_.resume && journal_->last_seq() == 0) forget_unbegun_journal();
      else if (journal_) finish(fmt::format("error: {}", e.what()));
      else release_instruments();  // an instrument further down the list refused: let go of those that said yes
      throw;
    }
    finish(reason_);
    return CampaignSummary{stop_.value(), reason_, output_, status(), pareto(), recommendation()};
  }

 private:
  // After the candidates (if any) are read: a pool-based planner gets its rows.
  void make_the_planner() {
    PlannerContext context{space_, config_.seed, config_.planner, config_.source, config_.planner_goals()};
    if (candidates_) context.candidates = &candidates_->pool;
    planner_ = make_planner(context);
  }

  // A new campaign, its instruments ready: the noise they state becomes its objectives' where the
  // file states none (adopt_stated_noise), before the journal records the config.
  void adopt_instrument_noise() {
    std::vector<const InstrumentInfo*> infos;
    for (const auto& inst : instruments_) infos.push_back(&inst->link->info());
    auto stated = [&] { return std::count_if(config_.objectives.begin(), config_.objectives.end(), [](const Objective& o) { return o.noise.has_value(); }); };
    const auto before = stated();
    for (const std::string& line : adopt_stated_noise(config_, infos)) log(line);
    if (stated() != before) make_the_planner();  // it was made before the instruments answered
  }

  // The experiment at the point the planner recommends (Planner::recommend), if it counts.
  std::optional<CampaignSummary::Recommendation> recommendation() {
    if (config_.objectives.size() > 1 || !planner_) return std::nullopt;
    const std::optional<Point> at = planner_->recommend();
    if (!at) return std::nullopt;
    for (const ExperimentState& x : state_.experiments()) {
      if (x.outcome != ExperimentOutcome::ok || !x.objective || x.x.size() != static_cast<size_t>(at->size())) continue;
      if ((Eigen::Map<const Eigen::VectorXd>(x.x.data(), at->size()) - *at).cwiseAbs().maxCoeff() > 1e-9) continue;
      if (!counts(config_, x.values)) continue;
      return CampaignSummary::Recommendation{x.id, x.params, *x.objective};
    }
    return std::nullopt;
  }

  // ---- output and journal -------------------------------------------------------------------

  void prepare_output() {
    std::error_code ec;
    // Room for the longest name labloop writes in the folder (an instrument's name, 64
    // characters, with ".cache.jsonl.holder.partial"; a report's temporary name with a pid): a
    // path with room for journal.jsonl but not for those started, then failed at the first
    // result, at every resume.
    constexpr std::size_t kLongestName = 100;
    if (const std::size_t length = fs::absolute(output_, ec).string().size(); length + 1 + kLongestName >= PATH_MAX)
      throw Error(fmt::format("the output folder's path is {} bytes long; with the files labloop writes in it a path would pass "
                              "the system's limit of {} bytes: choose a folder with a shorter path",
                              length, PATH_MAX - 1));
    fs::create_directories(output_, ec);
    if (ec) throw Error(fmt::format("cannot create output directory {}: {}", output_.string(), ec.message()));
    refuse_existing_campaign();
  }

  void refuse_existing_campaign() const {
    const fs::path journal_path = output_ / "journal.jsonl";
    std::error_code ec;
    if (fs::exists(journal_path, ec) && fs::file_size(journal_path, ec) > 0 && !only_a_torn_first_line(journal_path))
      throw Error(fmt::format("{} already holds a campaign (journal.jsonl); continue it with `labloop resume {}`, or choose another "
                              "directory with --output",
                              output_.string(), path_word(output_.string())));
  }

  // A crash while the first line was written leaves a journal without one whole line: no campaign
  // was recorded there (nothing was acted on before that line), and a new run may start; its
  // journal cuts the torn line away. Such a folder refused run, resume and status alike.
  static bool only_a_torn_first_line(const fs::path& journal_path) {
    try {
      const JournalEvents contents = read_journal_events(journal_path);
      return contents.events.empty() && contents.torn_tail;
    } catch (const std::exception&) {
      return false;  // damaged otherwise: refused as a campaign, which verify explains
    }
  }

  void open_journal() {
    refuse_existing_campaign();  // again: another `labloop run` may have started there meanwhile
    if (candidates_) keep_candidates_copy(*candidates_, output_);  // the folder alone resumes and replays, wherever it is moved
    nlohmann::json descriptor_tables = keep_descriptor_copies(config_, output_);  // so do its descriptor tables
    journal_.emplace(output_ / "journal.jsonl");
    drop_stale_stop_request();
    const std::string campaign_id = campaign_id_;
    id_tag_ = campaign_id.substr(0, kIdTagChars);
    journal(CampaignStartedEvent{.campaign = config_.name, .campaign_id = campaign_id, .config = config_.to_json(), .dry_run = options_.dry_run,
                                 .labloop_version = kVersion, .output = output_.string(),
                                 .candidates = candidates_ ? candidates_->to_json() : nlohmann::json(),
                                 .descriptor_tables = descriptor_tables.empty() ? nlohmann::json() : std::move(descriptor_tables), .os_user = os_user_name(),
                                 .host = controller_host_name(), .key_name = key_name(), .key_fingerprint = key_fingerprint()});
    std::vector<JournalEventBody> held;
    held.swap(held_events_);
    for (const JournalEventBody& event : held) journal(event);
    if (priors_) teach_prior_results(*priors_);
  }

  // A new campaign whose first line could not be written (a full disk) recorded nothing: its empty
  // journal.jsonl, which verify called FAILED, is removed, so the same `labloop run` works once the
  // cause is fixed. Removed while it is still locked: no other run can have taken it meanwhile.
  void forget_unbegun_journal() {
    release_instruments();
    std::error_code ec;
    fs::remove(journal_->path(), ec);
    journal_.reset();
  }

  // Journaled, then told, in file order, before the first proposal: replay tells them in the same
  // place (replay.cpp), so a resumed planner is the same planner.
  void teach_prior_results(const PriorResults& priors) {
    for (const std::string& skipped : priors.skipped) {
      // Journaled as a planner note, which the progress display prints ("planner: …"): once.
      journal(PlannerNoteEvent{.note = fmt::format("prior_results: {}", skipped)});
    }
    for (const PriorRow& row : priors.rows) {
      const Point x = space_.encode(row.params);
      journal(PriorResultEvent{.source = priors.source, .row = static_cast<int>(row.line), .params = row.params, .x = as_vector(x),
                               .values = row.values, .objective = row.objective});
      planner_->tell(observe(config_, x, row.values));
    }
    log(fmt::format("prior_results: the planner learned {} of {} row{} from {}", priors.rows.size(), priors.rows.size() + priors.skipped.size(),
                    priors.rows.size() + priors.skipped.size() == 1 ? "" : "s", priors.source));
  }

  // Resume: the journal is the whole truth. Replaying it rebuilds the planner exactly (see
  // replay.hpp) and tells us which experiments are still open: those dispatched get their `run`
  // re-sent with the same id once their instrument answers (the driver answers from its cache or
  // runs it), those never dispatched wait for a free instrument.
  void restore() {
    const fs::path path = output_ / "journal.jsonl";
    if (!fs::exists(path)) throw Error(fmt::format("{} holds no journal.jsonl: there is no campaign to resume there", output_.string()));
    // A run stopped because its journal was replaced saved what it wrote beside it: resuming from
    // the replacement would go on without those events (experiments run, results recorded).
    // Asked before the events are read, which a long journal's refusal does not need.
    if (const auto copies = displaced_copies(path); !copies.empty())
      throw Error(fmt::format("not resumed: {}; then `labloop resume` again", displaced_copy_note(copies.front(), count_journal_events(path))));
    JournalEvents before = read_campaign_journal(path);
    const std::vector<JournalEvent> events = std::move(before.events);
    refuse_another_key(events);
    if (options_.held_journal) journal_.emplace(std::move(*options_.held_journal));  // extend's, its lock held since it read
    else journal_.emplace(path);  // takes the lock, cuts a torn last line away
    // Read before the lock: an extend or resume that slipped in between wrote what this run,
    // and the configuration it was given, would not know (a raised budget ignored).
    const std::uint64_t read_through = events.empty() ? 0 : events.back().seq;
    if (journal_->last_seq() != read_through)
      throw Error(fmt::format("{}: another labloop run wrote to the journal while this one was starting (an extend or a resume at the same "
                              "time?); run `labloop resume {}` again",
                              path.string(), path_word(output_.string())));
    drop_stale_stop_request();
    if (!before.torn_tail_message.empty()) log(before.torn_tail_message + " (removed; it was never acted on)");
    // The last event of the campaign: signatures after it are not events of the campaign.
    const JournalEvent* last = nullptr;
    for (auto it = events.rbegin(); it != events.rend() && !last; ++it)
      if (it->kind() != EventKind::journal_signed) last = &*it;
    // An extension's raise is journaled once the instruments answer (run()); extend has checked it.
    if (const auto* finished = last && !options_.budget_raise ? last->as<CampaignFinishedEvent>() : nullptr) {
      const std::string& why = finished->reason;
      if (why == stop_text(StopReason::candidates_exhausted))
        throw Error(fmt::format("{}: the campaign already finished: {}; nothing to resume (new settings to try make a new campaign with "
                                "its own candidates file)",
                                path.string(), why));
      if (why == "target reached")
        throw Error(fmt::format("{}: the campaign already finished ({}); nothing to resume (to aim {}, start a new campaign with a {} "
                                "stop.target whose prior_results is this one's results.csv)",
                                path.string(), why, further_than_target(config_), further_than_target(config_)));
      if (why == "budget reached" || why == "time budget reached")
        throw Error(fmt::format("{}: the campaign already finished ({}); nothing to resume (`labloop extend {} {}` gives it more)", path.string(),
                                why, path_word(output_.string()), why == "budget reached" ? "--experiments N" : "--hours H"));
    }
    // The pool the proposals were made from, refused if its file changed since (candidates.hpp).
    candidates_ = journaled_candidates(events, config_, output_);
    state_ = CampaignState::fold(events);  // before the replay: start_again() reads it
    make_the_planner();
    // Said every few seconds while it lasts (a Bayesian planner replays about as long as it
    // planned), and a first Ctrl-C ends it with nothing journaled.
    const auto rebuilding = Clock::now();
    auto said = rebuilding;
    ReplayWatch watch{.progress = [&](int ask, int asks) {
                        if (Clock::now() - said < kRebuildNoteEvery) return;
                        said = Clock::now();
                        log(fmt::format("rebuilding the planner from the journal: ask {} of {} ({:.0f} s so far)", ask, asks,
                                        std::chrono::duration<double>(said - rebuilding).count()));
                      },
                      .stop = options_.stop};
    ReplayReport replay;
    try {
      replay = replay_journal(events, config_, *planner_, watch);
    } catch (const ReplayStopped& e) {
      throw ReplayStopped(fmt::format("{}; nothing was journaled ({})", e.what(), start_again()));
    }
    if (said != rebuilding)
      log(fmt::format("planner rebuilt from {} asks in {:.0f} s", replay.asks, std::chrono::duration<double>(Clock::now() - rebuilding).count()));
    // Journals written before campaign ids keep their ids' form ("<name>-0007").
    if (state_.campaign_id()) id_tag_ = state_.campaign_id()->substr(0, kIdTagChars);
    campaign_id_ = state_.campaign_id().value_or("");
    planner_proposals_ = state_.planner_proposals();
    asks_ = state_.asks();
    done_ = state_.done();
    failed_ = state_.failed();
    for (const ExperimentState& e : state_.experiments())
      if (e.outcome == ExperimentOutcome::ok && e.values.is_object() && failure_met(config_, e.values)) ++met_failure_condition_;
    discarded_ = state_.discarded();
    if (const auto& best = state_.best()) {
      best_ = best->objective;
      best_experiment_ = best->experiment;
      best_params_ = best->params;
    }
    // A failed attempt whose retry was announced ("retry_as") but whose "proposed" line never got
    // written (a crash between the two lines): resume writes that line now.
    if (const auto retry = state_.unproposed_retry()) {
      const ExperimentState& failed = *state_.experiment(retry->retry_of);
      journal(ProposedEvent{.experiment = retry->id, .params = failed.params, .planner = config_.planner.kind,
                            .x = as_vector(space_.encode(failed.params)), .retry_of = retry->retry_of, .attempt = failed.attempt + 1,
                            .after_s = 0});
    }
    std::vector<std::string> in_flight, waiting;
    for (const ExperimentState* open : state_.open_experiments()) {
      Experiment x;
      x.id = open->id;
      x.origin = open->origin;
      x.attempt = open->attempt;
      x.params = open->params;
      x.x = space_.encode(x.params);
      x.instrument = open->assigned_to ? instrument_index(*open->assigned_to) : -1;
      if (x.instrument >= 0) {
        in_flight.push_back(x.id);
        in_flight_.emplace(x.id, std::move(x));
      } else {
        waiting.push_back(x.id);
        waiting_.push_back(std::move(x));
      }
    }
    // The time budget counts from the campaign's first start, as a wall clock would, and never
    // less than the journal already covers: a machine whose clock is behind it (a reboot with a
    // wrong hardware clock) would otherwise start the budget afresh, or in the future.
    if (auto t0 = parse_journal_time(state_.started_at())) {
      const auto wall_now = std::chrono::system_clock::now();
      auto covered = wall_now - *t0;
      const std::string& last_time = state_.latest_time();
      if (const auto journal_end = parse_journal_time(last_time); journal_end && *journal_end > wall_now + std::chrono::seconds(1)) {
        log(fmt::format("warning: this machine's clock ({}) is behind the journal's latest event ({}): is it set right? The time budget "
                        "counts at least the time the journal covers, and the journal's times will go backwards",
                        utc_text(std::chrono::system_clock::to_time_t(wall_now), "%Y-%m-%dT%H:%M:%SZ"), last_time));
        covered = *journal_end - *t0;
      }
      // Never negative: a first start stamped by a clock that was ahead then.
      covered = std::max(covered, std::chrono::system_clock::duration::zero());
      started_ = Clock::now() - std::chrono::duration_cast<Clock::duration>(covered);
    }
    journal(CampaignResumedEvent{.in_flight = in_flight, .waiting = waiting, .replayed_asks = replay.asks, .reproduced = replay.reproduced(),
                                 .torn_tail = before.torn_tail ? std::optional<std::string>(before.torn_tail_message) : std::nullopt,
                                 .os_user = os_user_name(), .host = controller_host_name(), .key_name = key_name(),
                                 .key_fingerprint = key_fingerprint()});
    if (!replay.reproduced()) {
      const std::string note = fmt::format("replaying the journal gave {} different proposal(s) (first: {}); continuing from the journal's record",
                                           replay.differences.size(), replay.differences.front());
      journal(PlannerNoteEvent{.note = note});
      log(note);
    }
  }

  // ---- signatures (journal/signing.hpp) ---------------------------------------------------------

  std::optional<std::string> key_name() const { return key_ ? std::optional<std::string>(key_->public_key.name) : std::nullopt; }
  std::optional<std::string> key_fingerprint() const { return key_ ? std::optional<std::string>(key_->public_key.fingerprint()) : std::nullopt; }

  void refuse_another_key(const std::vector<JournalEvent>& events) const {
    if (key_) refuse_another_signing_key(config_, events, *key_);
  }

  // Signs the journal up to its last line, unless that is a signature already.
  void sign_journal() {
    if (!key_ || !journal_ || unsigned_events_ == 0) return;
    journal(sign_journal_head(*key_, campaign_id_, journal_->last_seq(), journal_->last_hash()));
    last_signed_ = Clock::now();
  }

  // Called between the loop's steps, never inside a group of lines that belong together (an ask's
  // proposals, a failure and its retry's "proposed" line).
  void sign_if_due(Clock::time_point now) {
    if (unsigned_events_ >= kSignEveryEvents || (unsigned_events_ > 0 && now - last_signed_ >= kSignEvery)) sign_journal();
  }

  int instrument_index(const std::string& name) const {
    for (size_t i = 0; i < config_.instruments.size(); ++i)
      if (config_.instruments[i].name == name) return static_cast<int>(i);
    return -1;
  }

  void note_best(const std::string& id, double y, const json& params) {
    if (!best_ || (config_.objective.goal == Goal::minimize ? y < *best_ : y > *best_)) {
      best_ = y;
      best_experiment_ = id;
      best_params_ = params;
    }
  }

  // Every event goes through its type (events.hpp): encode_fields writes exactly the fields the
  // loop has always written, so journals keep their bytes.
  void journal(const JournalEventBody& event) {
    if (!journal_) {  // a new campaign's instruments are starting: written once they all have (open_journal)
      held_events_.push_back(event);
      return;
    }
    const json written = journal_->append(std::string(event_name(event)), encode_fields(event));
    JournalEvent decoded = decode_event(written, journal_->path().string(), journal_->last_seq());
    state_.apply(decoded);
    if (decoded.kind() == EventKind::result || decoded.kind() == EventKind::result_corrected) pareto_stale_ = true;
    if (decoded.kind() == EventKind::journal_signed) {
      unsigned_events_ = 0;
      return;  // not news of the campaign
    }
    ++unsigned_events_;
    reports_due_ = true;  // results.csv lists proposals and dispatches too
    if (observer_) observer_->on_event(decoded, status());
  }

  void log(const std::string& line) {
    if (observer_) observer_->on_log(line);
  }

  // A note about what an instrument sent: throttled, since the driver decides how many come.
  void note_from(LiveInstrument& inst, const std::string& line) {
    if (inst.chatter.admit(Clock::now())) log(line);
  }

  // At most once a second, and, for a campaign whose reports take long to write (they are written
  // whole: 21 MB for 59,653 experiments), at most a twentieth of the time: rewritten every second,
  // such a campaign spent most of a core on them. What a skipped call would have shown is written
  // by the loop once the wait is over (reports_due_), not at the next event, which may be hours
  // away (a person's).
  void write_reports(bool force) {
    const auto now = Clock::now();
    if (!force && now - last_report_ < report_interval_) return;
    last_report_ = now;
    reports_due_ = false;
    // One code path for every writer of the reports (pareto_report.hpp): a command that
    // regenerates them from a journal calls the same function, so the files cannot differ.
    try {
      write_campaign_reports(config_, state_, output_);
      // At most a minute: one stalled write (a network folder) must not hold them back for long.
      report_interval_ = std::clamp<Clock::duration>(20 * (Clock::now() - now), std::chrono::seconds(1), std::chrono::seconds(60));
    } catch (const std::exception&) {
      // A folder moved away while the campaign ran fails here first ("cannot rename the temporary
      // file onto"): the journal's own check says what happened and where to resume.
      if (journal_) journal_->check_still_ours();
      throw;
    }
  }

  // Several objectives: the Pareto set as the reports show it, recomputed from the journal's fold
  // after a result arrived (not per event: each recomputation goes over every result).
  const std::optional<ParetoSummary>& pareto() const {
    if (pareto_stale_ && config_.objectives.size() > 1 && state_.started()) {
      CampaignRecord record = campaign_record(state_);
      annotate_goals(config_, record);
      pareto_ = pareto_summary(record);
      pareto_stale_ = false;
    }
    return pareto_;
  }

  // ---- instruments ----------------------------------------------------------------------------

  fs::path simulator_program() const {
    if (!options_.simulator.empty()) return options_.simulator;
    if (const char* env = std::getenv("LABLOOP_SIM"); env && *env) return env;
    const fs::path sibling = executable_dir() / "labloop-sim";
    if (fs::exists(sibling)) return sibling;
    return "labloop-sim";  // PATH
  }

  void start_instruments() {
    std::vector<Absent> absent;
    for (size_t i = 0; i < config_.instruments.size(); ++i)
      if (auto gone = start_instrument(i)) absent.push_back(std::move(*gone));
    if (absent.empty()) return;
    // Nothing answered that could run anything: as at a first start, the campaign stops here.
    if (absent.size() == instruments_.size()) std::rethrow_exception(absent.front().error);
    const auto now = Clock::now();
    for (const Absent& gone : absent) carry_on_without(*instruments_[gone.index], gone, now);
  }

  // An instrument a resume could not take back: no answer to hello, a refusal, or a welcome whose
  // limits no longer fit. A run treats the same as a loss or a change of its driver (quarantine,
  // its open experiments elsewhere), so a resume does too instead of refusing the whole campaign
  // while the others could carry on (a red-team report: one dead machine of three made a crashed
  // campaign impossible to resume, and the results the other two had measured were never recorded).
  struct Absent {
    size_t index = 0;
    std::exception_ptr error;  // why: what a first start would have stopped with
    bool misfit = false;       // it answered, with limits that do not fit
  };

  void carry_on_without(LiveInstrument& inst, const Absent& gone, Clock::time_point now) {
    // Its open experiments are its own still, not re-sent: the book holds them to their deadlines
    // and gives them up as a loss would.
    std::size_t open = 0;
    for (const auto& [id, e] : in_flight_)
      if (e.instrument == static_cast<int>(inst.index)) book_.dispatched(e.id, e.origin, e.attempt, inst.index, now, true), ++open;
    const std::string experiments = open == 1 ? "its 1 open experiment" : fmt::format("its {} open experiments", open);
    std::string why;
    try {
      std::rethrow_exception(gone.error);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (gone.misfit) {
      log(fmt::format("{}: its driver's welcome no longer fits this campaign; resuming with the other instruments: it gets nothing, and "
                      "{} go to another instrument",
                      inst.config->name, experiments));
      const std::optional<GiveUp> changed = book_.changed_limits(inst.index);
      if (changed && changed->quarantine) report_quarantine(*changed->quarantine, why);
      for (const std::string& id : changed ? changed->experiments : std::vector<std::string>{}) {
        inst.link->send(protocol::Abort{id});
        settle(in_flight_.find(id), Outcome::instrument_changed, fmt::format("{} came back with different limits", inst.config->name));
      }
      return;
    }
    log(fmt::format("{}: not back at the resume, so the campaign goes on with the other instruments: asking it hello again every {:g} s; "
                    "{} wait for it up to {:g} s (reconnect_s), then go to another instrument. At the resume: {}",
                    inst.config->name, inst.config->connect_timeout_s, experiments, inst.config->reconnect_s, why));
    ++inst.outages;
    inst.hello_again_at = now;
    // As say_hello_again, without sending another: hello() sent one, which ZeroMQ keeps queued
    // for the driver (each queued hello is answered, and only the first welcome counts).
    inst.awaiting_welcome = true;
    inst.hellos_waiting = 1;
    inst.welcome_wanted_since = now;
    inst.hello_sent_at = now;
  }

 public:
  // `validate --instruments`: every instrument started or connected as a run would, checked, and
  // let go. Simulators keep their files in the private temporary directory: nothing is written
  // to the campaign's output, no journal, and no experiment runs.
  std::vector<InstrumentCheck> check_instruments() {
    output_ = temp_.path();
    std::vector<InstrumentCheck> checks;
    for (size_t i = 0; i < config_.instruments.size(); ++i) {
      InstrumentCheck c{config_.instruments[i].name, std::nullopt, {}, false};
      try {
        start_instrument(i);
        c.info = instruments_.back()->link->info();
      } catch (const ConfigError& e) {
        c.problem = e.what();
        c.mismatch = true;
      } catch (const std::exception& e) {
        c.problem = e.what();
      }
      checks.push_back(std::move(c));
    }
    return checks;
  }

 private:
  // What a stop asked while the instruments start leaves to do. `labloop run` refuses a folder
  // that holds a campaign, so a resume or an extension is repeated instead; an extension's raise
  // is journaled only once every instrument answers (run()), so it was not recorded either (the
  // advice to run again was refused, and a resume finished the old budget without the raise).
  std::string start_again() const {
    const std::string folder = path_word(output_.string());
    if (!options_.resume) return "labloop run again to start over";
    if (!options_.budget_raise) return fmt::format("`labloop resume {}` continues it", folder);
    const json& journaled = state_.config();
    const json budget = journaled.is_object() ? journaled.value("budget", json::object()) : json::object();
    const int before = state_.budget_experiments().value_or(budget.is_object() ? budget.value("experiments", 0) : 0);
    const int more = options_.budget_raise->experiments - before;
    return fmt::format("the budget was not raised: `labloop extend {}{}{}` again extends it", folder,
                       more > 0 ? fmt::format(" --experiments {}", more) : "", options_.budget_raise->hours ? " --hours H (as before)" : "");
  }

  // nullopt once the instrument is ready; at a resume, a driver at an endpoint that cannot be
  // taken back gives what start_instruments needs to carry on without it.
  std::optional<Absent> start_instrument(size_t i) {
    {
      const InstrumentConfig& ic = config_.instruments[i];
      auto live = std::make_unique<LiveInstrument>();
      live->index = i;
      live->config = &ic;
      live->chatter = NoteThrottle(ic.name);
      std::string endpoint = ic.endpoint;
      // Asked while the hello waits: a Ctrl-C then ends the wait at once (a driver that never
      // answers held the run for its whole connect_timeout_s, then exited 1, not 130).
      std::function<void()> check = [this, name = ic.name] {
        if (options_.stop.stop_requested())
          throw InstrumentError(name, fmt::format("stopped while waiting for its driver's welcome; nothing was run ({})", start_again()));
      };
      if (options_.dry_run || ic.is_simulator() || ic.is_manual()) endpoint = fmt::format("ipc://{}/{}.ipc", temp_.path().string(), i);
      if (options_.dry_run || ic.is_manual()) {
        // Stand-ins served in-process: a dry run's simulated response, or a person's entries.
        if (options_.dry_run)
          live->stand_in = std::make_unique<detail::DryRunInstrument>(config_, ic.is_manual() ? ic.capacity : ic.options.value("capacity", 1),
                                                                      config_.seed + i);
        else {
          std::map<std::string, std::string> proposed;  // at a resume: its entries are checked against them
          for (const ExperimentState* e : state_.open_experiments()) proposed.emplace(e->id, e->proposed_at);
          auto person = std::make_unique<detail::ManualInstrument>(config_, i, output_, [this](const std::string& line) { log(line); },
                                                                   std::move(proposed));
          live->person = person.get();
          live->stand_in = std::move(person);
        }
        ServeOptions serve_options;
        serve_options.handle_signals = false;
        serve_options.log = [](const std::string&) {};
        auto* stand_in = live->stand_in.get();
        live->stand_in_server = std::jthread([stand_in, endpoint, serve_options](std::stop_token stop) mutable {
          serve_options.stop = stop;
          serve(*stand_in, endpoint, serve_options);
        });
      } else if (ic.is_simulator()) {
        // Each simulator gets its own noise seed, derived from the campaign's, unless the file sets one.
        const std::string seed = ic.options.contains("seed") ? ic.options["seed"].dump() : std::to_string(config_.seed * 1000 + i + 1);
        // Its result cache and the log of what it completed live beside the journal, so a resumed
        // campaign's simulator answers re-sent runs from the cache instead of running them again.
        std::vector<std::string> argv{simulator_program().string(), "--function", ic.simulator, "--endpoint", endpoint, "--seed", seed,
                                      "--cache", (output_ / (ic.name + ".cache.jsonl")).string(),
                                      "--completed-log", (output_ / (ic.name + ".completed.jsonl")).string()};
        // labloop-sim's own options become flags; the rest, which the config check accepted as the
        // function's own (e.g. dtlz2's "objectives"), go together as one JSON object, checked again
        // by labloop-sim with the same checker.
        nlohmann::json function_options = nlohmann::json::object();
        for (const auto& [key, value] : ic.options.items()) {
          if (key == "seed") continue;
          if (std::find(simulator_options().begin(), simulator_options().end(), key) == simulator_options().end()) {
            function_options[key] = value;
            continue;
          }
          std::string flag = "--" + key;
          std::replace(flag.begin(), flag.end(), '_', '-');
          argv.insert(argv.end(), {flag, value.dump()});
        }
        if (!function_options.empty()) argv.insert(argv.end(), {"--options", function_options.dump()});
        live->simulator_argv = argv;
        live->simulator.emplace(argv, output_ / sim_log_name(ic.name));
        ChildProcess* process = &*live->simulator;
        const fs::path log_path = output_ / sim_log_name(ic.name);
        check = [this, process, log_path, name = ic.name, patience = ic.connect_timeout_s, started = Clock::now(), said = false]() mutable {
          if (options_.stop.stop_requested())
            throw InstrumentError(name, fmt::format("stopped while its simulator was starting; nothing was run ({})", start_again()));
          if (process->running()) {
            if (!said && Clock::now() - started > std::chrono::duration<double>(patience)) {
              said = true;
              log(fmt::format("{}: its simulator is still starting after {:g} s (an emulator fitting data changed since its stored fit "
                              "takes a minute or more); waiting while it runs, up to {:g} s. Its log: {}",
                              name, patience, std::max(patience, kSimulatorStartS), log_path.string()));
            }
            return;
          }
          // Its last words (a damaged data.csv, an option it refuses) say what to fix: shown here,
          // not only in the log.
          const SmallFile log = read_small_file(log_path, 1 << 16);
          std::string last;
          if (log.status == SmallFile::Status::read) {
            std::string_view text = log.text;
            while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
            last = std::string(text.substr(text.rfind('\n') == std::string_view::npos ? 0 : text.rfind('\n') + 1));
          }
          // An empty log on a full disk: what it said could not be written either, and the log it
          // pointed to was empty; "No space left on device" was never said.
          std::error_code unknown;
          if (last.empty() && fs::space(log_path.parent_path(), unknown).available < kRoomToStart && !unknown)
            last = fmt::format("the disk holding {} is full (No space left on device), so it could not write even its log: free space "
                               "there, then start again",
                               log_path.parent_path().string());
          throw InstrumentError(name, fmt::format("labloop-sim exited at start (status {}){}; see {}", process->exit_status().value_or(-1),
                                                  last.empty() ? "" : ": " + printable(last.substr(0, 500)), log_path.string()));
        };
      }
      InstrumentTiming timing;
      timing.connect_timeout = std::chrono::milliseconds(static_cast<long>((live->simulator ? std::max(ic.connect_timeout_s, kSimulatorStartS) : ic.connect_timeout_s) * 1000));
      timing.heartbeat = std::chrono::milliseconds(static_cast<long>(ic.heartbeat_s * 1000));
      timing.heartbeat_misses = ic.heartbeat_misses;
      // A journaled config read on a machine without the instrument's key files: never plaintext instead.
      if (!options_.dry_run && !ic.keys && !ic.keys_error.empty()) throw InstrumentError(ic.name, ic.keys_error);
      live->link = std::make_unique<Instrument>(context_, ic.name, endpoint, timing, [this, inst = live.get()](const std::string& line) { note_from(*inst, line); },
                                                options_.dry_run ? std::nullopt : ic.keys);
      // A driver a resume cannot take back does not stop the others (start_instruments); a stop
      // asked meanwhile, a simulator or a person's stand-in that cannot start, and a first start do.
      const bool may_be_absent = options_.resume && !options_.dry_run && !ic.is_simulator() && !ic.is_manual();
      // Called while its error is handled: rethrown, or kept for start_instruments.
      const auto absent = [&](bool misfit) -> std::optional<Absent> {
        instruments_.push_back(std::move(live));  // so that release_instruments() lets it go
        if (!may_be_absent || options_.stop.stop_requested()) throw;
        return Absent{.index = i, .error = std::current_exception(), .misfit = misfit};
      };
      // No campaign id: `validate --instruments` (none yet) and journals from before ids never hold one.
      std::optional<InstrumentInfo> answered;
      try {
        answered = live->link->hello(config_.name, check, campaign_id_.empty() ? std::nullopt : std::optional<std::string>(campaign_id_));
      } catch (const InstrumentError&) {
        return absent(false);
      }
      const InstrumentInfo& info = *answered;
      try {
        check_instrument_fits(config_, i, info, options_.resume ? InstrumentFit::started : InstrumentFit::new_campaign);
      } catch (const ConfigError&) {
        return absent(true);
      } catch (...) {
        instruments_.push_back(std::move(live));
        throw;
      }
      journal(ready_event(ic, info));
      journal_held(*live, live->link->holder());
      // On resume, experiments the journal shows dispatched here are already this instrument's.
      instruments_.push_back(std::move(live));
      resend_open(*instruments_.back(), "resumed");
    }
    return std::nullopt;
  }

  // Re-sends `run` (same id) for every experiment open on `inst`: after a resume or when a lost
  // driver answers again. Idempotent at the driver (protocol §5): a finished one comes back from
  // its cache, a running one is accepted again, a forgotten one starts afresh.
  void resend_open(LiveInstrument& inst, const char* why) {
    const auto now = Clock::now();
    const bool returned = std::string_view(why) == "reconnected";
    std::vector<std::string> given_up;
    for (auto& [id, e] : in_flight_) {
      if (e.instrument != static_cast<int>(inst.index)) continue;
      if (returned && inst.outages != e.outages_seen) {
        e.outages_seen = inst.outages;
        if (++e.returns >= kMostReturnsPerExperiment) {
          given_up.push_back(id);
          continue;
        }
      }
      book_.dispatched(e.id, e.origin, e.attempt, inst.index, now, true);
      journal(DispatchedEvent{.experiment = e.id, .instrument = inst.config->name, .resent = why});
      inst.link->send(protocol::Run{e.id, e.params});
    }
    for (const std::string& id : given_up) {
      inst.link->send(protocol::Abort{id});  // in case it still runs there: its retry is a new experiment
      settle(in_flight_.find(id), Outcome::forgotten,
             inst.busy_outage.empty()
                 ? fmt::format("{} went down {} times while it ran this experiment (does this setting stop its driver?)", inst.config->name,
                               kMostReturnsPerExperiment)
                 : fmt::format("{} answered busy {} times while it held this experiment, each time after welcoming this campaign again "
                               "(the last: \"{}\"): is another campaign or program using it? (protocol §12)",
                               inst.config->name, kMostReturnsPerExperiment, inst.busy_outage));
    }
  }

  // ---- the loop -------------------------------------------------------------------------------

  void loop() {
    while (true) {
      const auto now = Clock::now();
      sign_if_due(now);
      take_stop_request_in_loop();
      if (!stop_ && (stop_ = stop_reason(now))) {
        reason_ = stop_text(*stop_);
        book_.campaign_stopping();
        if (!stop_deadline_ && !in_flight_.empty())
          log(fmt::format("{}: no new experiments; waiting for {} running{} ({})", reason_, in_flight_.size(), waited_for_lost(),
                          what_a_stop_does(false)));
      } else if (stop_ && !stop_deadline_ && (options_.stop.stop_requested() || stopping_on_request_)) {
        // Already stopping for another reason (the target, the time budget), with experiments
        // still running: an operator's stop starts their grace period all the same. It was never
        // started, and a driver that never answered held the campaign until a second Ctrl-C.
        stop_deadline_ = now + options_.stop_grace;
        log(fmt::format("asked to stop: {}", what_a_stop_does(true)));
      }
      if (reason_.empty()) dispatch(now);
      if (!reason_.empty()) cancel_waiting();
      if (in_flight_.empty() && waiting_.empty() && (!reason_.empty() || used() >= config_.budget.experiments)) {
        if (!stop_) stop_ = StopReason::budget_reached, reason_ = stop_text(*stop_);
        return;
      }
      // A person may be halfway through an experiment: a stop does not abort it. It stays open in
      // the journal; its result can be entered while the campaign is stopped, and `resume` records it.
      // So the campaign ends as stopped, even if the target or the time budget had been reached: a
      // campaign journaled as finished is not resumed, and entries waited in inbox/ for good. A
      // failure-rate pause stays one (it is resumed as well): journaled as an operator's stop, it
      // said nothing of the failures and exited 130 (a red-team report).
      if (stop_deadline_ && waiting_.empty() && !in_flight_.empty() &&
          std::all_of(in_flight_.begin(), in_flight_.end(), [&](const auto& entry) { return waits_for_person(entry.second); })) {
        leave_to_people();
        return;
      }
      if (stop_deadline_ && now > *stop_deadline_) {
        abort_all("not finished within the stop grace period; aborted");
        // What a person runs is left open by abort_all: the same ending as above. Ended with the
        // target's or the time budget's reason instead, the campaign could not be resumed, and
        // the result entered for it was never recorded (a red-team report).
        if (!in_flight_.empty()) leave_to_people();
        return;
      }
      if (reason_.empty() && !budget_wait_said_ && waiting_.empty() && used() >= config_.budget.experiments)
        if (const std::string lost = waited_for_lost(); !lost.empty()) {
          budget_wait_said_ = true;
          log(fmt::format("every experiment of the budget is proposed; waiting for {} running{}", in_flight_.size(), lost));
        }
      // Appends check that the journal is still where it was; a campaign waiting for people may
      // append nothing for hours, while its inbox is read by path: a folder moved meanwhile left
      // entries unread and `status` saying "running" (a red-team report). Asked every 2 s.
      if (journal_ && now - last_place_check_ > std::chrono::seconds(2)) {
        last_place_check_ = now;
        journal_->check_still_ours();
      }
      poll_messages(std::chrono::milliseconds(50));
      read_after_absence();
      supervise(Clock::now());
      if (reports_due_) write_reports(false);
    }
  }

  std::optional<StopReason> stop_reason(Clock::time_point now) {
    if (options_.stop.stop_requested() || stopping_on_request_) {
      stop_deadline_ = now + options_.stop_grace;
      return StopReason::stopped_by_operator;
    }
    // A dry run's responses are made up, so reaching the target means nothing: run the budget.
    if (!options_.dry_run && config_.target && best_ && (config_.objective.goal == Goal::minimize ? *best_ <= *config_.target : *best_ >= *config_.target))
      return StopReason::target_reached;
    if (config_.budget.hours > 0 && std::chrono::duration<double>(now - started_).count() > config_.budget.hours * 3600)
      return StopReason::time_budget_reached;
    if (book_.all_quarantined()) return StopReason::no_instruments_left;
    // Once every row is told or running no row frees up again (failures and retries keep theirs),
    // so the campaign ends when the last experiment does.
    if (candidates_exhausted_ && in_flight_.empty() && waiting_.empty()) return StopReason::candidates_exhausted;
    return std::nullopt;
  }

  // A stop request the console left in the folder (stop_request.hpp), taken at every step of the
  // loop (one open) and once more as the campaign finishes (finish()): journaled with who asked and removed,
  // so none outlives the run it was meant for. The first one stops the campaign as a first
  // Ctrl-C; one that comes while it already stops is recorded too.
  std::optional<StopRequest> take_stop_request() {
    if (stop_request_stuck_) return std::nullopt;
    std::optional<StopRequest> request = read_stop_request(output_);
    if (!request) return std::nullopt;
    journal(StopRequestedEvent{.by = request->by, .reason = request->reason, .source = request->source});
    try {
      remove_stop_request(output_);
    } catch (const Error& e) {
      // Not looked at again in this run (it would be journaled at every step); a resume refuses
      // to start until it is gone (drop_stale_stop_request).
      log(e.what());
      stop_request_stuck_ = true;
    }
    return request;
  }

  static std::string asked_by(const StopRequest& r) {
    return fmt::format("from the {} by {}{}", r.source.empty() ? "unknown" : r.source, r.by.empty() ? "someone unnamed" : r.by,
                       r.reason.empty() ? "" : ": " + r.reason);
  }

  void take_stop_request_in_loop() {
    const std::optional<StopRequest> request = take_stop_request();
    if (!request) return;
    if (stop_deadline_ || stopping_on_request_) {
      log(fmt::format("asked again to stop ({}): already stopping", asked_by(*request)));
      return;
    }
    if (stop_) {  // stopping for another reason: the loop starts the grace period (loop())
      stopping_on_request_ = true;
      log(fmt::format("asked to stop ({})", asked_by(*request)));
      return;
    }
    stopping_on_request_ = true;
    log(fmt::format("stopping: asked {}; no new experiments, running ones get {} s to finish", asked_by(*request),
                    std::chrono::duration_cast<std::chrono::seconds>(options_.stop_grace).count()));
  }

  // A request found as this run takes the journal was meant for an earlier run (one that ended
  // before it looked): removed, not acted on. The marker of an earlier run's last look goes
  // without a word: it stands for no request.
  void drop_stale_stop_request() {
    std::optional<StopRequest> stale;
    try {
      stale = reopen_stop_requests(output_);
    } catch (const Error& e) {
      throw Error(fmt::format("{}; remove it, then start again", e.what()));
    }
    if (stale) log(fmt::format("removed a stop request left from an earlier run (by {} at {}); not acted on", stale->by, stale->at));
  }

  // The journaled text of a reason (a contract: campaign_finished's "reason"); a pause has its own.
  static std::string stop_text(StopReason why) {
    switch (why) {
      case StopReason::budget_reached: return "budget reached";
      case StopReason::target_reached: return "target reached";
      case StopReason::time_budget_reached: return "time budget reached";
      case StopReason::stopped_by_operator: return "stopped by operator";
      case StopReason::no_instruments_left: return "no instruments left";
      case StopReason::candidates_exhausted: return "every candidate has been tried";
      case StopReason::paused: return "paused";
    }
    return "stopped";
  }

  // Budget: the planner's proposals, less those discarded without a verdict (operator stop).
  int used() const { return planner_proposals_ - discarded_; }

  void dispatch(Clock::time_point now) {
    // Capacities may each be INT_MAX (protocol §7): sum them wide.
    long long free = 0;
    for (const auto& inst : instruments_) free += free_slots(*inst, now);
    const long long fresh = std::min({free - static_cast<long long>(waiting_.size()), static_cast<long long>(config_.budget.experiments - used()),
                                      static_cast<long long>(kMostPerAsk)});
    if (fresh > 0 && !candidates_exhausted_) propose(static_cast<int>(fresh));
    // A stop asked for while the planner thought (a long ask ignores it) sends nothing new: what it
    // proposed is discarded at the next turn, as everything waiting is when a campaign stops.
    if (options_.stop.stop_requested()) return;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->not_before > now) {
        ++it;
        continue;
      }
      LiveInstrument* target = pick_instrument(now);
      if (!target) break;
      Experiment e = std::move(*it);
      it = waiting_.erase(it);
      send_run(*target, std::move(e), now);
    }
  }

  // Journals the ask with what the planner was told (its number and the pending experiments, in
  // the order given) so that `replay` and `resume` can make exactly the same call.
  void propose(int count) {
    thinking_ = true;
    if (observer_) observer_->on_status(status());  // shows "planner thinking…"
    std::vector<Point> pending;
    std::vector<std::string> pending_ids;
    for (const auto& [id, e] : in_flight_) pending.push_back(e.x), pending_ids.push_back(id);
    for (const auto& e : waiting_) pending.push_back(e.x), pending_ids.push_back(e.id);
    // The journal's own open experiments, when they are exactly these: then the planner is told
    // them in proposal order and the journal says so ("pending_open") instead of listing them, so
    // it grows with the experiments, not with their square. Otherwise the list, as before.
    const bool pending_open = take_open_order(pending, pending_ids);
    const auto asked = Clock::now();
    const std::vector<Point> points = planner_->ask(count, pending);
    thinking_ = false;
    // A pool gives fewer points only when it has no more open rows (planner.hpp); an empty ask
    // changed nothing in the planner and is not journaled, so replay need not repeat it.
    if (candidates_ && static_cast<int>(points.size()) < count) candidates_exhausted_ = true;
    if (points.empty()) return;
    ++asks_;
    if (const std::string note = planner_->take_note(); !note.empty())
      journal(PlannerNoteEvent{.note = note, .seconds = std::chrono::duration<double>(Clock::now() - asked).count()});
    for (const Point& raw : points) {
      Experiment e;
      ++planner_proposals_;
      e.id = e.origin = id_tag_.empty() ? fmt::format("{}-{:04d}", config_.name, planner_proposals_)
                                        : fmt::format("{}-{}-{:04d}", config_.name, id_tag_, planner_proposals_);
      e.params = space_.decode(raw);  // clamps and rounds: never outside the declared bounds
      if (candidates_) {
        // The row's own values, as the file gives them (a decoded point may differ in the last digit).
        const auto row = candidates_->pool.find(raw);
        if (!row)
          throw PlannerError(fmt::format("planner \"{}\" proposed {}, which is not a row of {} (a bug: please report it)", config_.planner.kind,
                                         e.params.dump(), candidates_->source));
        e.params = candidates_->row_params(*row);
      }
      // Constraints are not a matter of clamping: a planner that broke one has a bug, and the
      // point is neither journaled nor dispatched (send_run checks again before hardware).
      if (const std::string problem = space_.check(e.params); !problem.empty())
        throw PlannerError(fmt::format("planner \"{}\" proposed {}: {} (a bug: please report it)", config_.planner.kind, e.params.dump(), problem));
      e.x = space_.encode(e.params);
      journal(ProposedEvent{.experiment = e.id, .params = e.params, .planner = config_.planner.kind, .x = as_vector(e.x), .ask = asks_,
                            .pending = pending_open ? std::nullopt : std::optional(pending_ids), .pending_open = pending_open});
      waiting_.push_back(std::move(e));
    }
  }

  // Reorders `pending` (points) and `ids` as the journal lists its open experiments (proposal
  // order) when they are the same experiments; false, leaving both as they are, when not (such
  // as before the journal is open).
  bool take_open_order(std::vector<Point>& pending, std::vector<std::string>& ids) const {
    if (!journal_) return false;
    const std::vector<const ExperimentState*> open = state_.open_experiments();
    if (open.size() != ids.size()) return false;
    std::unordered_map<std::string_view, std::size_t> at;
    for (std::size_t i = 0; i < ids.size(); ++i) at.emplace(ids[i], i);
    std::vector<Point> ordered;
    std::vector<std::string> ordered_ids;
    for (const ExperimentState* x : open) {
      const auto it = at.find(x->id);
      if (it == at.end()) return false;
      ordered.push_back(pending[it->second]);
      ordered_ids.push_back(x->id);
    }
    pending = std::move(ordered);
    ids = std::move(ordered_ids);
    return true;
  }

  int free_slots(const LiveInstrument& inst, Clock::time_point now) const {
    if (inst.hello_again_at) return 0;
    return book_.free_slots(inst.index, inst.link->info().capacity, now);
  }

  // The instrument with the most free slots, ties to the one used longest ago, so experiments
  // spread over every instrument.
  LiveInstrument* pick_instrument(Clock::time_point now) {
    LiveInstrument* best = nullptr;
    for (auto& inst : instruments_) {
      const int free = free_slots(*inst, now);
      if (free <= 0) continue;
      if (!best || free > free_slots(*best, now) || (free == free_slots(*best, now) && last_used_[inst->index] < last_used_[best->index]))
        best = inst.get();
    }
    return best;
  }

  void send_run(LiveInstrument& inst, Experiment e, Clock::time_point now) {
    // The last gate before hardware: the params must lie within the campaign's bounds, which
    // check_instrument_fits has already proven lie within the instrument's own limits.
    if (const std::string problem = space_.check(e.params); !problem.empty())
      throw PlannerError(fmt::format("refusing to send {}: {} (a bug: please report it)", e.id, problem));
    e.instrument = static_cast<int>(inst.index);
    e.outages_seen = inst.outages;
    book_.dispatched(e.id, e.origin, e.attempt, inst.index, now);
    // Journal first: after a crash between the two, resume re-sends `run` with the same id to
    // this instrument (idempotent there); the other order could send it to a second instrument.
    journal(DispatchedEvent{.experiment = e.id, .instrument = inst.config->name});
    inst.link->send(protocol::Run{e.id, e.params});
    last_used_[inst.index] = ++use_counter_;
    in_flight_.emplace(e.id, std::move(e));
  }

  void poll_messages(std::chrono::milliseconds timeout) {
    std::vector<zmq::pollitem_t> items;
    std::vector<LiveInstrument*> owners;
    for (auto& inst : instruments_) {  // lost ones too: we listen for them to come back
      items.push_back({inst->link->socket().handle(), 0, ZMQ_POLLIN, 0});
      owners.push_back(inst.get());
    }
    if (items.empty()) return;
    try {
      zmq::poll(items.data(), items.size(), timeout);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      return;
    }
    // At most kMaxMessagesPerPoll from one driver before the others, the deadlines and the
    // planner get their turn: a driver sending as fast as we read would otherwise hold the loop.
    for (size_t k = 0; k < items.size(); ++k) {
      if (!(items[k].revents & ZMQ_POLLIN)) continue;
      check_connection(*owners[k], Clock::now());
      for (int read = 0; read < kMaxMessagesPerPoll; ++read) {
        LiveInstrument& inst = *owners[k];
        const int malformed_before = inst.link->malformed_count();
        auto message = inst.link->receive();
        // A new connection's broken welcome is its answer to hello: said so when it is given up,
        // not "gave no welcome" (the link only logs a malformed message and drops it).
        if (inst.hello_again_at && inst.link->malformed_count() != malformed_before)
          if (const std::string what = inst.link->last_malformed(); what.rfind("welcome:", 0) == 0)
            inst.hello_answer = "a malformed welcome (" + what + ")";
        if (!message) break;
        handle(inst, *message);
      }
    }
  }

  void handle(LiveInstrument& inst, const protocol::Message& m) {
    if (const auto* welcome = std::get_if<protocol::Welcome>(&m)) {
      // Only the answer to our own hello counts: anyone can send a welcome at any time.
      if (!inst.awaiting_welcome) {
        if (inst.hellos_waiting > 0) return void(--inst.hellos_waiting);
        return note_from(inst, fmt::format("{}: ignored a welcome it was not asked for", inst.config->name));
      }
      inst.awaiting_welcome = false;
      inst.hellos_waiting = std::max(0, inst.hellos_waiting - 1);
      const bool fits = recheck(inst, *welcome);
      if (inst.hello_again_at) {
        inst.hello_again_at.reset();
        inst.welcome_wanted_since.reset();
        inst.hellos_unanswered = 0;
        inst.hello_answer.clear();
        if (fits) resend_open(inst, "reconnected");
      }
      return;
    }
    if (const auto* pong = std::get_if<protocol::Pong>(&m)) {
      inst.malformed_at_pong = inst.link->malformed_count();
      if (const auto lost_for = book_.answered(inst.index, Clock::now())) back_online(inst, *lost_for);
      if (inst.hello_again_at) return;  // what it runs is looked at once its welcome fits
      return reconcile(inst, *pong);
    }
    if (const auto* error = std::get_if<protocol::Error>(&m)) {
      if (error->code == protocol::kBusy) return on_busy(inst, *error);
      if (error->code == "unknown_experiment" && error->experiment && !inst.hello_again_at) (void)book_.stopped(inst.index, *error->experiment);
      inst.last_error = protocol::truncate_utf8(fmt::format("{}: {}", error->code, error->message), 200);
      inst.last_error_at = Clock::now();
      if (inst.hello_again_at && !error->experiment) inst.hello_answer = inst.last_error;  // most likely its answer to hello
      // An error about one of our experiments on this instrument answers its `run` (we send no
      // `abort` while it is in flight, and unknown_experiment answers only abort): the driver did
      // not start it (protocol §6). Not a verdict on the point: tried again, and counted against
      // the instrument as a timeout is, so a driver refusing everything is quarantined.
      if (error->experiment && error->code != "unknown_experiment") {
        const auto it = in_flight_.find(*error->experiment);
        // One it accepted is running there: an error about it later is no refusal of the run,
        // and its result may still come (noted below, as any other error).
        if (it != in_flight_.end() && it->second.instrument == static_cast<int>(inst.index) && !inst.hello_again_at &&
            !book_.was_accepted(it->first)) {
          inst.link->note_alive();
          return settle(it, Outcome::refused_by_driver, fmt::format("{} answered error {}: {}", inst.config->name, error->code, error->message));
        }
      }
      return note_from(inst, fmt::format("{}: driver reported error {}: {}", inst.config->name, error->code, error->message));
    }
    if (std::holds_alternative<protocol::Released>(m)) return;  // a late answer to a release
    if (const auto* accepted = std::get_if<protocol::Accepted>(&m)) return on_accepted(inst, *accepted);
    if (const auto* rejected = std::get_if<protocol::Rejected>(&m)) return on_rejected(inst, *rejected);
    if (const auto* result = std::get_if<protocol::Result>(&m)) return on_result(inst, *result);
    note_from(inst, fmt::format("{}: ignored unexpected \"{}\" message", inst.config->name, protocol::type_name(m)));
  }

  // The experiment a driver's news (accepted, rejected, result) is about, if it is in flight on
  // that driver — news of it is then a sign of life. in_flight_.end() otherwise: the news is
  // logged and ignored (a late answer, another campaign's experiment).
  std::map<std::string, Experiment>::iterator news_about(LiveInstrument& inst, std::string_view news, const std::string& id) {
    // From a driver on a new connection whose welcome is not checked yet (it may measure other
    // things, within other limits): not taken. Its open runs are re-sent once the welcome fits,
    // and a driver answers them again from its result cache (protocol §5).
    if (inst.hello_again_at) {
      note_from(inst, fmt::format("{}: ignored {} for {} (its new connection has not answered hello yet)", inst.config->name, news, id));
      return in_flight_.end();
    }
    auto it = in_flight_.find(id);
    if (it == in_flight_.end() || it->second.instrument != static_cast<int>(inst.index)) {
      note_from(inst, fmt::format("{}: ignored {} for {} (not in flight on this instrument)", inst.config->name, news, id));
      return in_flight_.end();
    }
    inst.link->note_alive();
    return it;
  }

  void on_accepted(LiveInstrument& inst, const protocol::Accepted& m) {
    if (news_about(inst, "accepted", m.experiment) == in_flight_.end()) return;
    inst.busy_in_a_row = 0;
    // Null or a number ≥ 0 (decode checked); the journal keeps the driver's spelling of it.
    const auto seconds = [](const json& value) { return value.is_number() ? std::optional<double>(value.get<double>()) : std::nullopt; };
    if (!book_.accepted(m.experiment, seconds(m.expected_s), seconds(m.max_s)))
      return note_from(inst, fmt::format("{}: accepted {} again (journaled once per run sent)", inst.config->name, m.experiment));
    journal(AcceptedEvent{.experiment = m.experiment, .instrument = inst.config->name, .expected_s = m.expected_s, .max_s = m.max_s});
  }

  void on_rejected(LiveInstrument& inst, const protocol::Rejected& m) {
    const auto it = news_about(inst, "rejected", m.experiment);
    if (it == in_flight_.end()) return;
    const std::string reason = protocol::kept_text(m.reason);  // a megabyte of it is not journaled
    // A run is accepted or rejected, once (protocol §4.2): a rejection after the driver accepted
    // the run it was last sent contradicts it. Taken, it failed the experiment, freed its place
    // while it still ran there, and threw its result away. It is noted, as an error about a
    // running experiment is, and the result awaited.
    if (book_.was_accepted(m.experiment)) {
      inst.link->note_alive();
      return note_from(inst, fmt::format("{}: ignored \"rejected\" for {} ({}): it had accepted that run, and a run is accepted or rejected "
                                         "once (protocol §4.2); its result is still awaited",
                                         inst.config->name, m.experiment, protocol::truncate_utf8(reason, 200)));
    }
    const bool busy = reason.rfind("busy", 0) == 0;
    // "conflict": the driver holds this id with other parameters (protocol §5) — not a verdict
    // on the point, and its cached result is not ours: try again under a new id.
    const bool conflict = reason.rfind("conflict", 0) == 0;
    journal(RejectedEvent{.experiment = m.experiment, .instrument = inst.config->name, .reason = reason, .retry = busy});
    if (conflict) {
      log(fmt::format("{}: {} (the driver holds {} with other parameters); retrying under a new id", inst.config->name, reason, m.experiment));
      return settle(it, Outcome::conflict, fmt::format("rejected by {}: {}", inst.config->name, reason));
    }
    if (busy) {
      book_.rejected_busy(m.experiment, Clock::now());
      // Said at 3, 6, 12, … in a row (it backs off 0.5 s, 1 s, 2 s, …): a driver that is never free (another program using it, a
      // capacity it cannot keep) would otherwise stall the campaign without a word.
      inst.busy_reason = protocol::truncate_utf8(reason, 200);
      if (const int n = ++inst.busy_in_a_row; n % 3 == 0 && ((n / 3) & (n / 3 - 1)) == 0)
        log(fmt::format("{}: {} runs in a row rejected as busy (\"{}\"); they wait and are sent again. Is another program using it, or "
                        "is its declared capacity ({}) more than it can run?",
                        inst.config->name, n, protocol::truncate_utf8(reason, 200), inst.link->info().capacity));
      Experiment again = std::move(it->second);
      in_flight_.erase(it);
      again.instrument = -1;
      waiting_.push_front(std::move(again));
    } else {
      settle(it, Outcome::rejected, fmt::format("rejected by {}: {}", inst.config->name, reason));
    }
  }

  void on_result(LiveInstrument& inst, const protocol::Result& m) {
    // One aborted here (its timeout): settled already, its retry a new experiment; it has stopped.
    if (!inst.hello_again_at && !in_flight_.contains(m.experiment) && book_.stopped(inst.index, m.experiment))
      return note_from(inst, fmt::format("{}: ignored result for {} (aborted; its place is free again)", inst.config->name, m.experiment));
    const auto it = news_about(inst, "result", m.experiment);
    if (it == in_flight_.end()) return;
    const std::string& id = m.experiment;
    if (m.status == protocol::ResultStatus::ok) {
      const json& values = m.values;
      if (const std::string missing = missing_outputs(config_, values); !missing.empty()) {
        settle(it, Outcome::out_of_spec, fmt::format("result from {} has {} (values: {})", inst.config->name, missing, values.dump()));
        return;
      }
      if (const std::string outside = outputs_out_of_range(config_, values); !outside.empty()) {
        settle(it, Outcome::out_of_spec, fmt::format("result from {}: {} (values: {})", inst.config->name, outside, values.dump()));
        return;
      }
      const double y = values.at(config_.objective.name).get<double>();
      const Experiment& e = it->second;
      ++done_;
      book_.result(id);
      if (counts(config_, values)) note_best(id, y, e.params);
      const Point x = e.x;
      in_flight_.erase(it);
      std::optional<json> meta = m.meta.is_object() ? std::optional<json>(m.meta) : std::nullopt;
      // A dry run's "person" is a stand-in that made the values up: no one's name goes with them.
      if (inst.person) meta = entered_meta(*inst.person, id, std::move(meta));
      journal(ResultEvent{.experiment = id, .instrument = inst.config->name, .status = "ok", .values = values, .objective = y, .meta = meta});
      const Observation observation = observe(config_, x, values);
      if (const auto failure = failure_met(config_, values)) {
        ++met_failure_condition_;
        log(fmt::format("{}: {} counts as failed ({}; failure condition)", inst.config->name, id, failure->text()));
      }
      planner_->tell(observation);
      write_reports(false);
    } else {
      const std::string error = protocol::kept_text(m.error);  // a megabyte of it is not journaled
      // A driver shutting down says nothing about the experiment (protocol §5): try it again.
      if (error == "driver shutting down") return settle(it, Outcome::shutting_down, fmt::format("{}: driver shutting down", inst.config->name));
      // We never sent `abort` for an experiment still in flight (a timeout or a stop removes it
      // first), so this one was aborted at the instrument, by its operator: no verdict on the
      // point either.
      if (error == "aborted") return settle(it, Outcome::aborted_at_instrument, fmt::format("aborted at {} (not by labloop)", inst.config->name));
      settle(it, Outcome::driver_error, error);
    }
  }

  // A pong lists what the driver is running. An experiment it neither runs nor has reported,
  // though dispatched well before the ping, was lost on the way or forgotten by a restarted
  // driver: re-send `run` with the same id — the driver answers from its cache or starts it
  // (protocol §5), so nothing runs twice and nothing is lost.
  void reconcile(LiveInstrument& inst, const protocol::Pong& pong) {
    const std::set<std::string> running(pong.running.begin(), pong.running.end());
    for (const std::string& id : book_.still_running_after_abort(inst.index, running))
      log(fmt::format("{}: still runs {}, which was aborted; its place stays taken until it stops (did its driver get the abort?)",
                      inst.config->name, id));
    for (const Unlisted& unlisted : book_.reconcile(inst.index, running, Clock::now())) {
      auto it = in_flight_.find(unlisted.id);
      if (!unlisted.resend) {
        // A result it did send may have been malformed (NaN written by a JSON library that allows
        // it): that is the likelier story, and the driver's author needs to see it.
        const std::string malformed = inst.link->malformed_count() == 0 ? std::string()
            : fmt::format("; it has sent {} malformed message{}, the last: {}", inst.link->malformed_count(),
                          inst.link->malformed_count() == 1 ? "" : "s", inst.link->last_malformed());
        // Why it seems forgotten, when something says more than the pongs: a driver that accepted
        // the run but never lists it (its results were then thrown away as news of nothing) was
        // told it "no longer knows the experiment".
        std::string why;
        if (malformed.empty() && book_.was_accepted(it->first))  // a malformed result is the likelier story
          why = "; it accepted the run but its pongs never list it: a pong lists every experiment the driver runs (protocol §4.4)";
        settle(it, Outcome::forgotten, fmt::format("{} no longer knows the experiment (re-sent 3 times){}{}", inst.config->name, why, malformed));
      } else {
        log(fmt::format("{}: not running {} and sent no result; re-sending it (same id)", inst.config->name, it->first));
        inst.link->send(protocol::Run{it->first, it->second.params});
      }
    }
  }

  // A simulator we started is ours to supervise, as an operator would restart a crashed driver:
  // the new process reads the same result cache, binds the same endpoint, and the heartbeat then
  // treats it as a driver that came back. At most one restart a second, so one that dies at once
  // does not spin; it is then lost and quarantined like any silent driver.
  void restart_simulator_if_dead(LiveInstrument& inst, Clock::time_point now) {
    if (inst.simulator_argv.empty() || book_.quarantined(inst.index) || (inst.simulator && inst.simulator->running())) return;
    if (now - inst.simulator_restarted < std::chrono::seconds(1)) return;
    // Disengaged: the last restart could not start it; its status was reported then.
    int status = -1;
    std::string exited;
    if (inst.simulator) {
      if (const auto code = inst.simulator->exit_status()) status = *code, exited = fmt::format(" (status {})", *code);
    }
    inst.simulator_restarted = now;
    // Started first, journaled only once it runs: a restart that failed (the program moved away
    // by an upgrade, no processes or descriptors left) is no restart, and one instrument's
    // failure must not end the campaign on the others. It is tried again each second; meanwhile
    // the instrument is silent, so it is lost and, after reconnect_s, quarantined.
    // Its injected faults (crash_rate, fail_rate, …) are drawn from its seed: with the same seed a
    // restarted simulator drew the same crash for the same experiment, every time.
    std::vector<std::string> argv = inst.simulator_argv;
    for (size_t k = 0; k + 1 < argv.size(); ++k)
      if (argv[k] == "--seed") try {
          argv[k + 1] = std::to_string(std::stoull(argv[k + 1]) + static_cast<unsigned long long>(inst.simulator_restarts) + 1);
        } catch (const std::exception&) {
          // not a number labloop wrote: left as it is
        }
    try {
      inst.simulator.emplace(argv, output_ / sim_log_name(inst.config->name));
    } catch (const std::exception& e) {
      const std::string why = e.what();
      if (why != inst.simulator_failure)
        log(fmt::format("{}: labloop-sim exited{}, and could not be started again: {} (tried again every second)", inst.config->name,
                        exited, why));
      inst.simulator_failure = why;
      return;
    }
    inst.simulator_failure.clear();
    ++inst.simulator_restarts;
    journal(InstrumentRestartedEvent{.instrument = inst.config->name, .exit_status = status, .restarts = inst.simulator_restarts});
    log(fmt::format("{}: labloop-sim exited{}; restarted it (restart {})", inst.config->name, exited, inst.simulator_restarts));
  }

  // A driver that comes back may have been restarted with other settings: say hello again, and
  // check its answer (recheck) before trusting it with anything new.
  // Its open experiments are re-sent once that welcome fits: after a relink it is a new
  // connection, and the driver behind it may have been restarted with other limits.
  void back_online(LiveInstrument& inst, double lost_for_s) {
    inst.link->note_alive();
    journal(InstrumentReconnectedEvent{.instrument = inst.config->name, .after_s = lost_for_s});
    const auto now = Clock::now();
    if (!inst.hello_again_at) inst.hello_again_at = now;
    say_hello_again(inst, now);
  }

  void say_hello_again(LiveInstrument& inst, Clock::time_point now) {
    inst.awaiting_welcome = true;
    if (!inst.welcome_wanted_since) inst.welcome_wanted_since = now;
    inst.hello_sent_at = now;
    inst.hellos_waiting = std::min(inst.hellos_waiting + 1, 1000);
    inst.link->send(inst.link->hello_message());
  }

  // What happened to the connection since last asked. Also asked before reading a driver's
  // messages: a message on a new connection must not be taken before we know it is one (the
  // monitor hears of the connection before any message comes over it). While lost, the pong that
  // ends it says hello again (back_online).
  void check_connection(LiveInstrument& inst, Clock::time_point now) {
    const Instrument::ConnectionNews news = inst.link->take_connection_news();
    if (book_.lost(inst.index)) return;
    if (news.dropped) connection_dropped(inst, now);
    if (news.reconnected) new_connection(inst, now);
  }

  // The connection to the driver closed (ZeroMQ reconnects by itself): what answers next may be
  // a restarted driver with other limits. Send it nothing new until its welcome is checked;
  // what was sent before stays in flight (a driver that is back answers for it by id).
  void connection_dropped(LiveInstrument& inst, Clock::time_point now) {
    if (inst.hello_again_at) return;
    ++inst.outages;
    inst.busy_outage.clear();
    log(fmt::format("{}: the connection to its driver closed; nothing new goes to it until it answers hello again", inst.config->name));
    inst.hello_again_at = now;
  }

  // ZeroMQ made a new connection to the driver without our noticing a silence: a driver
  // restarted within a heartbeat or two. It may have other limits and has forgotten our hello:
  // say hello again, and send it nothing (new or open) until its welcome is checked.
  void new_connection(LiveInstrument& inst, Clock::time_point now) {
    log(fmt::format("{}: its driver connected afresh (restarted?); saying hello again{}", inst.config->name,
                    inst.hello_again_at ? "" : ", and nothing new goes to it until its welcome is checked"));
    journal(InstrumentReconnectedEvent{.instrument = inst.config->name, .after_s = std::chrono::duration<double>(now - inst.hello_again_at.value_or(now)).count()});
    if (!inst.hello_again_at) ++inst.outages, inst.busy_outage.clear(), inst.hello_again_at = now;  // restarted without a close seen
    say_hello_again(inst, now);
  }

  // A new connection that answers pings but gives no welcome for reconnect_s from the first hello
  // it was sent (held by another campaign now, say): its open experiments, on hold since, go
  // elsewhere. Kept across reconnections: a driver restarting again and again is no excuse.
  void give_up_waiting_for_welcome(LiveInstrument& inst) {
    const GiveUp gave_up = book_.no_welcome(inst.index, inst.config->reconnect_s);
    const std::string answered = inst.hello_answer.empty() ? std::string() : fmt::format("; it answered {}", inst.hello_answer);
    if (gave_up.quarantine) report_quarantine(*gave_up.quarantine, answered);
    for (const std::string& id : gave_up.experiments)
      settle(in_flight_.find(id), Outcome::instrument_lost, fmt::format("instrument {} gave no welcome on its new connection{}", inst.config->name, answered));
  }

  // ---- exclusive control (protocol §12) ----------------------------------------------------------

  void journal_held(const LiveInstrument& inst, const std::optional<protocol::Holder>& holder) {
    // A welcome naming another campaign as holder is not a hold of ours (Instrument::hello says so).
    if (!holder || campaign_id_.empty() || holder->campaign_id != campaign_id_) return;
    journal(InstrumentHeldEvent{.instrument = inst.config->name, .campaign_id = holder->campaign_id, .since = holder->since,
                                .until = holder->until, .controller = holder->controller});
  }

  // `busy` from a driver: it does not know this connection as the holder's. On a new connection
  // it answers our hello: another campaign took the driver (a restarted driver with another
  // holder, or our lease ran out). On a connection it had welcomed, it forgot us (restarted
  // without its holder file) or someone else holds it now: either way that connection is treated
  // as a new one — nothing new goes to it and its open runs wait (a run sent now would only be
  // refused, and its retries fail as forgotten), hello is asked again every connect timeout
  // (supervise), a welcome that fits re-sends the open runs, and after reconnect_s without one
  // they go elsewhere and the instrument is quarantined, its busy answer quoted.
  void on_busy(LiveInstrument& inst, const protocol::Error& error) {
    const auto now = Clock::now();
    const std::string answer = protocol::truncate_utf8(fmt::format("busy: {}", error.message), 200);
    if (inst.hello_again_at) {
      if (inst.hello_answer.rfind("busy", 0) != 0)
        log(fmt::format("{}: its new connection answered hello with busy ({}): someone else holds it now. Asking again every {:g} s; "
                        "its open experiments go elsewhere if it does not take this campaign back within {:g} s",
                        inst.config->name, protocol::truncate_utf8(error.message, 200), inst.config->connect_timeout_s, inst.config->reconnect_s));
      inst.hello_answer = answer;
      return;
    }
    log(fmt::format("{}: the driver answered busy ({}): it no longer knows this campaign as its holder. Nothing new goes to it; "
                    "saying hello again every {:g} s to take it back, and its open experiments go elsewhere if it does not within {:g} s",
                    inst.config->name, protocol::truncate_utf8(error.message, 200), inst.config->connect_timeout_s, inst.config->reconnect_s));
    ++inst.outages;  // its open runs count this as a return, as after a restart
    inst.busy_outage = protocol::truncate_utf8(error.message, 200);
    inst.hello_again_at = now;
    inst.hello_answer = answer;
    say_hello_again(inst, now);
  }

  // At every stop: `release` to each instrument whose driver named this campaign its holder,
  // and a short wait for `released` (journaled). A driver that knows no `release` answers
  // unknown_type, and one that is gone answers nothing: both are fine, its lease then runs out.
  void release_instruments() {
    std::vector<LiveInstrument*> held;
    for (auto& inst : instruments_)
      if (inst->link && inst->link->holder() && !campaign_id_.empty()) held.push_back(inst.get());
    if (held.empty()) return;
    for (LiveInstrument* inst : held) inst->link->send(protocol::Release{campaign_id_});
    const auto deadline = Clock::now() + std::chrono::seconds(1);
    while (!held.empty() && Clock::now() < deadline) {
      for (auto it = held.begin(); it != held.end();) {
        bool answered = false;
        // The deadline holds inside too: a driver sending without pause (pongs, say) kept the
        // campaign from finishing for as long as it did (51 s in a red-team run).
        while (Clock::now() < deadline) {
          auto message = (*it)->link->receive(std::chrono::milliseconds(10));
          if (!message) break;
          if (const auto* released = std::get_if<protocol::Released>(&*message); released && released->campaign_id == campaign_id_) {
            journal(InstrumentReleasedEvent{.instrument = (*it)->config->name});
            answered = true;
            break;
          }
          // An answer to the release that is not `released`: unknown_type from an old driver (fine),
          // anything else said once. Errors about experiments are late news of the campaign.
          if (const auto* error = std::get_if<protocol::Error>(&*message); error && !error->experiment) {
            if (error->code != "unknown_type")
              log(fmt::format("{}: the driver did not release it: {} ({})", (*it)->config->name, error->message, error->code));
            answered = true;
            break;
          }
        }
        it = answered ? held.erase(it) : it + 1;
      }
    }
    // Still held by this campaign on the driver's disk (it is down, or did not answer): every
    // other campaign is refused until the lease ends, so say how to end it sooner.
    for (const LiveInstrument* inst : held)
      log(fmt::format("{}: not released (its driver did not answer release): it stays held by this campaign until its lease ends{}; once "
                      "its driver answers, `labloop release {}` gives it back",
                      inst->config->name, inst->link->holder()->until ? " (" + protocol::truncate_utf8(*inst->link->holder()->until, 64) + " or later)" : "",
                      path_word(output_.string())));
  }

  // The instrument's welcome as journaled, at the start and after each reconnection. A simulator's
  // endpoint is a temporary socket of this run: not journaled.
  InstrumentReadyEvent ready_event(const InstrumentConfig& ic, const InstrumentInfo& info) const {
    return InstrumentReadyEvent{.instrument = ic.name, .endpoint = ic.endpoint.empty() || options_.dry_run ? "(private)" : ic.endpoint,
                                .driver = info.driver, .version = info.version, .capacity = info.capacity,
                                .key_fingerprint = driver_key_fingerprint(ic)};
  }

  // A welcome after start-up answers the hello of back_online. Limits that no longer fit the
  // campaign mean someone changed the instrument: quarantine it and take its experiments back.
  // True when the campaign still fits it.
  bool recheck(LiveInstrument& inst, const protocol::Welcome& welcome) {
    if (inst.link->adopt_holder(welcome.holder)) journal_held(inst, inst.link->holder());
    if (book_.quarantined(inst.index)) return false;
    std::string problem;
    try {
      const InstrumentInfo info = protocol::parse_welcome(welcome);
      check_instrument_fits(config_, inst.index, info, InstrumentFit::started);
      // A restarted driver may run more or fewer at once: its word now is what counts.
      if (info.capacity != inst.link->info().capacity)
        log(fmt::format("{}: its driver now runs {} at once (was {})", inst.config->name, info.capacity, inst.link->info().capacity));
      inst.link->adopt(info);
      // Who answered, journaled again: it may be another driver or version (replaced while the
      // link was down), and `status` reads the capacity from here.
      journal(ready_event(*inst.config, info));
      return true;
    } catch (const Error& e) {
      problem = e.what();
    }
    const std::optional<GiveUp> changed = book_.changed_limits(inst.index);
    if (changed->quarantine) report_quarantine(*changed->quarantine, problem);
    for (const std::string& id : changed->experiments) {
      inst.link->send(protocol::Abort{id});
      settle(in_flight_.find(id), Outcome::instrument_changed, fmt::format("{} came back with different limits", inst.config->name));
    }
    return false;
  }

  // `problem`: what no longer fits (changed_limits), or what it answered instead of a welcome (no_welcome).
  void report_quarantine(const Quarantine& q, const std::string& problem = {}) {
    const LiveInstrument& inst = *instruments_[q.instrument];
    std::string why;
    switch (q.cause) {
      case QuarantineCause::failures_in_a_row: why = fmt::format("{} failures in a row", q.failures_in_a_row); break;
      case QuarantineCause::changed_limits: why = fmt::format("it came back with different limits: {}", problem); break;
      case QuarantineCause::lost_too_long:
        why = q.times_lost > 1 ? fmt::format("lost for {:g} s in all, over {} losses since its last result", q.lost_for_s, q.times_lost)
                               : fmt::format("lost for {:g} s", q.lost_for_s);
        // Something answers at its address but fails the encrypted handshake (a driver restarted
        // with another key, or another program there): the record says so, not only silence.
        if (!inst.link->handshake_refusal().empty()) why += fmt::format("; its last handshake: {}", inst.link->handshake_refusal());
        break;
      case QuarantineCause::no_welcome: why = fmt::format("no welcome for {:g} s since it was asked hello again{}", q.lost_for_s, problem); break;
      case QuarantineCause::key_refused: why = fmt::format("its driver {} (not retried: no reconnection is let in until the key is allowed again)", problem); break;
      case QuarantineCause::busy_too_long:
        why = fmt::format("every run rejected as busy for {:g} s (reconnect_s) while it ran none of this campaign's, the last \"{}\"; is another "
                          "program using it, or is its declared capacity ({}) more than it can run?",
                          q.lost_for_s, inst.busy_reason, inst.link->info().capacity);
        break;
      case QuarantineCause::abort_ignored:
        why = fmt::format("it still runs {} {:g} s (reconnect_s) after labloop aborted it, so its place stays taken; its driver must stop an "
                          "aborted experiment and answer \"aborted\" (docs/protocol.md §4.5)",
                          q.experiment, q.lost_for_s);
        break;
    }
    journal(InstrumentQuarantinedEvent{.instrument = inst.config->name, .reason = why});
    log(fmt::format("{}: {} ({})", inst.config->name, state_text(book_.state(q.instrument)), why));
  }

  // An experiment ended without a result: journals what the book decided — a quarantine of its
  // instrument, then a retry or the final failure — and pauses the campaign when it says so.
  void settle(std::map<std::string, Experiment>::iterator it, Outcome outcome, const std::string& reason) {
    const Settlement s = book_.settle(it->first, outcome, Clock::now());
    if (s.quarantine) report_quarantine(*s.quarantine);
    if (s.retry) {
      retry(it, *s.retry, reason);
    } else {
      fail(it, retried(outcome) && s.attempt > 1 ? fmt::format("{} (attempt {})", reason, s.attempt) : reason, s.learn);
    }
    if (s.pause) pause(*s.pause);
  }

  // Not a verdict on the point (timeout, interrupted run, lost instrument): the same point again
  // under a new id after a backoff.
  void retry(std::map<std::string, Experiment>::iterator it, const Retry& r, const std::string& reason) {
    Experiment& e = it->second;
    const LiveInstrument* inst = e.instrument >= 0 ? instruments_[static_cast<size_t>(e.instrument)].get() : nullptr;
    Experiment again;
    again.origin = e.origin;
    again.attempt = r.attempt;
    again.id = r.id;
    again.x = e.x;
    again.params = e.params;
    again.not_before = r.not_before;
    const FailedEvent failed{.experiment = e.id, .instrument = inst ? inst->config->name : "", .error = reason, .learn = false, .retry_as = again.id};
    in_flight_.erase(it);
    journal(failed);
    journal(ProposedEvent{.experiment = again.id, .params = again.params, .planner = config_.planner.kind, .x = as_vector(again.x),
                          .retry_of = failed.experiment, .attempt = again.attempt, .after_s = r.after_s});
    waiting_.push_back(std::move(again));
  }

  // Records a final failure. `learn`: the planner is told (a verdict on the point); otherwise the
  // experiment is discarded (operator stop) and frees its place in the budget.
  void fail(std::map<std::string, Experiment>::iterator it, const std::string& error, bool learn) {
    Experiment& e = it->second;
    const LiveInstrument* inst = e.instrument >= 0 ? instruments_[static_cast<size_t>(e.instrument)].get() : nullptr;
    const FailedEvent failed{.experiment = e.id, .instrument = inst ? inst->config->name : "", .error = error, .learn = learn};
    if (learn) {
      ++done_;
      ++failed_;
    } else {
      ++discarded_;
    }
    const Point x = e.x;
    in_flight_.erase(it);
    journal(failed);
    if (learn) planner_->tell(Observation::failed(x));
    write_reports(false);
  }

  // Burning the budget on a broken setup helps nobody: stop proposing and say why.
  void pause(const Pause& p) {
    stop_ = StopReason::paused;
    reason_ = fmt::format("paused: {} of the last {} experiments failed; fix the cause, then `labloop resume {}`", p.failures, p.outcomes,
                          path_word(output_.string()));
    stop_deadline_ = Clock::now() + options_.stop_grace;
  }

  // Back from a long absence (a planner step, the controller stopped with SIGSTOP, a frozen VM):
  // a result that came in time may still be unread — after a stop, ZeroMQ's own thread needs a
  // moment to hand it over. Read before any deadline is judged, so an answer that arrived in time
  // is never timed out and run again; a read that itself spans an absence (stopped again) is
  // followed by another. Deadlines still count the absence, and a planner that is slow at every
  // turn costs a read of at most 100 ms per turn.
  //
  // One read may still be too early: on a loaded machine ZeroMQ's thread, stopped with us, took
  // over 100 ms to hand a result over (a sanitizer build in CI). So for kAwakeGrace after an
  // absence, deadlines are judged as of the moment it began: one that fell during it waits for
  // the grace (or the next turn), one that had passed before is judged at once. A planner slow at
  // every turn thus delays a deadline by one turn at most.
  void read_after_absence() {
    if (Clock::now() - last_turn_ > kLongAbsence) {
      absence_began_ = last_turn_;
      awake_since_ = Clock::now();
    }
    for (int reads = 0; reads < 10 && Clock::now() - last_turn_ > kLongAbsence; ++reads) {
      last_turn_ = Clock::now();
      poll_messages(std::chrono::milliseconds(100));
    }
    last_turn_ = Clock::now();
  }

  void supervise(Clock::time_point now) {
    const Clock::time_point judged = absence_began_ && now - awake_since_ < kAwakeGrace ? std::min(now, *absence_began_) : now;
    for (const Late& late : book_.check_deadlines(judged)) {
      auto it = in_flight_.find(late.id);
      LiveInstrument& inst = *instruments_[static_cast<size_t>(it->second.instrument)];
      if (late.kind == Late::Kind::timed_out) {
        // A person's entry saved just before the deadline is in the inbox, not yet read (the
        // stand-in looks every kPoll): waited for, briefly, rather than thrown away.
        if (inst.person && inst.person->entry_waiting(late.id)) {
          if (!it->second.entry_at_timeout) it->second.entry_at_timeout = now;
          if (now - *it->second.entry_at_timeout < detail::ManualInstrument::kEntryGrace) continue;
        }
        // Nothing to a connection not yet confirmed, and the record says so: "aborted" would tell
        // the operator the instrument was told to stop.
        if (!inst.hello_again_at) inst.link->send(protocol::Abort{late.id});
        settle(it, Outcome::timeout, fmt::format("timeout: no result within {:g} s; {}", late.seconds,
                                                 inst.hello_again_at ? "not aborted: its driver has not answered hello again, so nothing is sent to it"
                                                                     : "aborted"));
      } else {
        // Shown in the status line; logged once.
        log(fmt::format("{} on {} is overdue: expected to take {:g} s", late.id, inst.config->name, late.seconds));
      }
    }
    for (auto& inst : instruments_) {
      if (const auto held_back = inst->chatter.summary(now)) log(*held_back);
      restart_simulator_if_dead(*inst, now);
      if (book_.quarantined(inst->index) && book_.in_flight(inst->index) == 0) continue;
      inst->link->ping_if_due(now);
      check_connection(*inst, now);
      // A driver that answers pings but not hello: ask again, and say so, once per connect timeout.
      if (inst->hello_again_at && inst->welcome_wanted_since && !book_.lost(inst->index) &&
          now - *inst->welcome_wanted_since > std::chrono::duration<double>(inst->config->reconnect_s)) {
        give_up_waiting_for_welcome(*inst);
        continue;
      }
      if (inst->hello_again_at && inst->awaiting_welcome &&
          now - inst->hello_sent_at > std::chrono::duration<double>(inst->config->connect_timeout_s)) {
        // Said after the 1st, 2nd, 4th, 8th … unanswered hello: held by another campaign, it is
        // asked every connect timeout until reconnect_s (300 s by default), a line each time before.
        if (const int n = ++inst->hellos_unanswered; (n & (n - 1)) == 0)
          log(fmt::format("{}: no welcome within {:g} s of hello ({} unanswered){}; asking again every {:g} s, nothing is sent to it meanwhile",
                          inst->config->name, inst->config->connect_timeout_s, n,
                          inst->hello_answer.empty() ? "" : fmt::format(" (it answered {})", inst->hello_answer), inst->config->connect_timeout_s));
        say_hello_again(*inst, now);
      }
      // Its driver's access check refused this controller's key on a reconnection (revoked from its
      // allow-list, then the driver restarted): said as at the start, not as a silence, and not
      // waited for: no reconnection is let in until someone allows the key again.
      if (inst->link->key_refused() && book_.state(inst->index) != InstrumentState::quarantined) {
        const std::string why = inst->link->handshake_refusal();
        if (!book_.lost(inst->index)) journal(InstrumentLostEvent{.instrument = inst->config->name, .reason = why, .wait_s = 0});
        const GiveUp gave_up = book_.key_refused(inst->index, now);
        if (gave_up.quarantine) report_quarantine(*gave_up.quarantine, why);
        for (const std::string& id : gave_up.experiments)
          settle(in_flight_.find(id), Outcome::instrument_lost, fmt::format("instrument {} lost: its driver {}", inst->config->name, why));
        continue;
      }
      if (!book_.lost(inst->index) && inst->link->silent(now)) {
        book_.instrument_lost(inst->index, now);
        const double silent_s = inst->config->heartbeat_s * inst->config->heartbeat_misses;
        // A driver that answers every ping with `error` is not silent, but no more usable: say so.
        const bool erring = !inst->last_error.empty() && now - inst->last_error_at < std::chrono::duration<double>(silent_s);
        // Nor is one whose pongs break the protocol ("running": "none"): reconnecting will not mend that.
        const bool malformed = inst->link->malformed_count() > inst->malformed_at_pong;
        journal(InstrumentLostEvent{.instrument = inst->config->name,
                                    .reason = erring ? fmt::format("no answer to its pings for {:g} s but errors, the last: {}", silent_s, inst->last_error)
                                              : malformed ? fmt::format("no valid answer to its pings for {:g} s, but {} malformed message(s) since its last pong, the "
                                                                        "last: {} (its driver breaks the protocol: docs/protocol.md; labloop driver-check shows where)",
                                                                        silent_s, inst->link->malformed_count() - inst->malformed_at_pong, inst->link->last_malformed())
                                                          : inst->link->handshake_refusal().empty()
                                                              ? fmt::format("no answer for {:g} s", silent_s)
                                                              : fmt::format("no answer for {:g} s; its last handshake: {}", silent_s, inst->link->handshake_refusal()),
                                    .wait_s = inst->config->reconnect_s});
      }
      // ZeroMQ drops a connection for good on a protocol error (a frame over the size limit,
      // docs/reliability.md): while lost, a fresh socket every few heartbeats lets a driver that
      // is still there answer again; its pong then re-sends our open experiments by id. Not while
      // a connection is open: ZeroMQ mends a closed one itself, and an open one whose driver is
      // slow to answer (a loaded machine) would otherwise be thrown away before its answer came.
      if (const Relink relink = inst->link->connection_up() ? Relink::not_due : book_.relink_due(inst->index, now); relink != Relink::not_due) {
        if (relink == Relink::first)
          log(fmt::format("{}: no answer; connecting to it afresh until it answers, first after {:g} s, the interval doubling up to {:g} s",
                          inst->config->name, inst->config->heartbeat_s * 2, inst->config->heartbeat_s * ExperimentBook::kMostRelinkHeartbeats));
        inst->link->relink();
      }
      if (const std::optional<GiveUp> gave_up = book_.give_up_if_due(inst->index, now)) {
        if (gave_up->quarantine) report_quarantine(*gave_up->quarantine);
        for (const std::string& id : gave_up->experiments)
          settle(in_flight_.find(id), Outcome::instrument_lost, fmt::format("instrument {} lost", inst->config->name));
      }
      if (const std::optional<Quarantine> stalled = book_.quarantine_if_stalled(inst->index, now)) report_quarantine(*stalled);
    }
  }

  void cancel_waiting() {
    while (!waiting_.empty()) {
      Experiment e = std::move(waiting_.front());
      waiting_.pop_front();
      auto [it, inserted] = in_flight_.emplace(e.id, std::move(e));
      settle(it, Outcome::discarded, fmt::format("not run: campaign stopping ({})", reason_));
    }
  }

  // Who entered a person's result, when and from where, into the result's meta: the journal is
  // the record of who did what (the inbox file may be deleted later).
  // The entry is the one whose values the manual instrument returned, as it read it: the inbox
  // file may have been deleted or replaced since.
  std::optional<json> entered_meta(detail::ManualInstrument& person, const std::string& id, std::optional<json> meta) {
    const std::optional<ManualEntry> entry = person.entry_taken(id);
    if (!entry) return meta;
    json m = meta.value_or(json::object());
    m["entered_by"] = entry->by;
    m["entered_at"] = entry->at;
    m["entered_from"] = entry->source;
    return m;
  }

  // What a stop does to the experiments in flight, for the log: those on instruments get the
  // grace period, those a person runs stay open (a stop never aborts them: loop()), which the log
  // used to promise to abort as well. `asked`: said when the stop is asked, else before one is.
  std::string what_a_stop_does(bool asked) const {
    const auto people = static_cast<std::size_t>(
        std::count_if(in_flight_.begin(), in_flight_.end(), [&](const auto& entry) { return waits_for_person(entry.second); }));
    const auto grace = std::chrono::duration_cast<std::chrono::seconds>(options_.stop_grace).count();
    const std::string open = fmt::format("{} a person runs stay{} open: enter {} result{}, then `labloop resume`",
                                         people == 1 ? "the one" : fmt::format("the {}", people), people == 1 ? "s" : "",
                                         people == 1 ? "its" : "their", people == 1 ? "" : "s");
    if (people == in_flight_.size()) return fmt::format("{} ends the campaign at once; {}", asked ? "the stop" : "Ctrl-C", open);
    const std::string which = people == 0 ? (asked ? "running experiments" : "them") : "those on instruments";
    const std::string graced = asked ? fmt::format("{} get {} s to finish, then are aborted", which, grace)
                                     : fmt::format("Ctrl-C gives {} {} s more, then aborts them", which, grace);
    return people == 0 ? graced : graced + "; " + open;
  }

  // Open experiments on an instrument that is lost (or whose new connection has not welcomed
  // us yet) are waited for up to its reconnect_s: said, or a stop looks like a hang.
  std::string waited_for_lost() const {
    std::string said;
    for (const auto& inst : instruments_) {
      if (!book_.lost(inst->index) && !inst->hello_again_at) continue;
      const auto open = static_cast<std::size_t>(std::count_if(in_flight_.begin(), in_flight_.end(), [&](const auto& entry) {
        return entry.second.instrument == static_cast<int>(inst->index);
      }));
      if (open == 0) continue;
      said += fmt::format("{}{} on {}, which is not back: waited for up to its reconnect_s ({:g} s)", said.empty() ? ", " : "; ", open,
                          inst->config->name, inst->config->reconnect_s);
    }
    return said;
  }

  bool waits_for_person(const Experiment& e) const {
    return e.instrument >= 0 && instruments_[static_cast<size_t>(e.instrument)]->config->is_manual();
  }

  // Ends the loop with only people's experiments open: as stopped (a pause stays one), so that
  // `resume` records the results entered meanwhile; says what to do.
  void leave_to_people() {
    if (stop_ != StopReason::paused) stop_ = StopReason::stopped_by_operator, reason_ = stop_text(*stop_);
    log(fmt::format("{} wait{} for a person: enter the result{} (`labloop pending {}`), then `labloop resume {}`",
                    in_flight_.size() == 1 ? "1 experiment" : fmt::format("{} experiments", in_flight_.size()), in_flight_.size() == 1 ? "s" : "",
                    in_flight_.size() == 1 ? "" : "s", path_word(output_.string()), path_word(output_.string())));
  }

  void abort_all(const std::string& why) {
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      auto next = std::next(it);
      if (waits_for_person(it->second)) {  // left open, as above
        it = next;
        continue;
      }
      LiveInstrument& inst = *instruments_[static_cast<size_t>(it->second.instrument)];
      if (!book_.lost(inst.index) && !inst.hello_again_at) inst.link->send(protocol::Abort{it->first});
      settle(it, Outcome::discarded, why);
      it = next;
    }
  }

  void finish(const std::string& reason) {
    std::optional<FinishedBest> best;
    if (best_) best = FinishedBest{best_experiment_, *best_, best_params_};
    for (auto& inst : instruments_)
      if (const auto held_back = inst->chatter.summary(Clock::now(), true)) log(*held_back);
    try {
      // The last look: a request there is journaled before campaign_finished, and the path is
      // closed behind it, so a console asking from now on is told the campaign finished
      // (stop_request.hpp) instead of leaving a request no run reads.
      try {
        close_stop_requests(output_, [&](const StopRequest& late) {
          if (stop_request_stuck_) return;  // journaled when it was first read
          journal(StopRequestedEvent{.by = late.by, .reason = late.reason, .source = late.source});
          if (!stopping_on_request_) log(fmt::format("asked to stop ({}) as the campaign finished: recorded, nothing left to stop", asked_by(late)));
        });
      } catch (const Error& e) {
        log(e.what());  // the finish is journaled all the same; a request left there is named by the next run
      }
      release_instruments();  // before campaign_finished: nothing of the campaign comes after it
      journal(CampaignFinishedEvent{.reason = reason, .experiments = done_, .failed = failed_, .best = best});
      sign_journal();
      if (key_) log(fmt::format("journal signed by \"{}\" ({}) through line {}", key_->public_key.name, key_->public_key.fingerprint(), journal_->last_seq() - 1));
      write_reports(true);
    } catch (const std::exception& e) {
      log(fmt::format("could not finish the journal or reports: {}", e.what()));
    }
  }

  CampaignStatus status() const {
    CampaignStatus s;
    s.budget = config_.budget.experiments;
    s.done = done_;
    s.failed = failed_;
    s.met_failure_condition = met_failure_condition_;
    s.in_flight = static_cast<int>(in_flight_.size());
    s.overdue = book_.overdue_count();
    s.best = best_;
    s.best_experiment = best_experiment_;
    s.best_params = best_params_;
    s.elapsed_s = std::chrono::duration<double>(Clock::now() - started_).count();
    // From the pace since this start (a resumed campaign's downtime says nothing about it), and
    // none once stopping: no new experiments will start.
    const double running_s = std::chrono::duration<double>(Clock::now() - this_start_).count();
    const int outcomes = book_.outcomes_since_start();
    if (reason_.empty() && outcomes > 0 && done_ < s.budget) s.eta_s = running_s / outcomes * (s.budget - done_);
    s.planner_thinking = thinking_;
    if (const auto& front = pareto()) {
      s.pareto_size = static_cast<int>(front->members.size());
      s.hypervolume = front->hypervolume;
    }
    return s;
  }

  CampaignConfig config_;  // a copy: a new campaign adopts the noise its instruments state
  const CampaignOptions& options_;
  CampaignObserver* observer_;
  Space space_;
  fs::path output_;
  std::optional<Journal> journal_;
  bool stopping_on_request_ = false;  // a stop request in the folder stops this run
  Clock::time_point last_place_check_{};  // the journal's place, checked between appends (loop)
  bool budget_wait_said_ = false;     // the budget is used and the last open experiments wait for a lost instrument: said once
  bool stop_request_stuck_ = false;   // one could not be removed: not looked at again
  std::vector<JournalEventBody> held_events_;
  std::optional<KeyPair> key_;  // config "controller_key": the journal is signed with it
  std::string campaign_id_;     // what signatures bind them to ("" for journals before campaign ids)
  int unsigned_events_ = 0;     // events since the last signature
  Clock::time_point last_signed_ = Clock::now();
  std::optional<PriorResults> priors_;  // a new campaign's "prior_results", read before it starts
  std::optional<CandidateFile> candidates_;  // the "candidates" pool (the planner holds a copy with its marks)
  bool candidates_exhausted_ = false;        // the planner gave fewer points than asked: no open row is left
  CampaignState state_;  // the journal so far, folded: what reports are made of
  std::unique_ptr<Planner> planner_;
  ExperimentBook book_;  // the policy: what a failure, a silence or a late result leads to
  zmq::context_t context_;
  TempDir temp_;
  std::vector<std::unique_ptr<LiveInstrument>> instruments_;  // after context_: sockets close first
  std::map<size_t, std::uint64_t> last_used_;
  static constexpr Clock::duration kLongAbsence = std::chrono::seconds(1);  // a loop turn takes 50 ms
  static constexpr Clock::duration kAwakeGrace = std::chrono::seconds(1);
  std::optional<Clock::time_point> absence_began_;  // the last long absence (read_after_absence)
  Clock::time_point awake_since_;
  Clock::time_point last_turn_ = Clock::now();  // the end of the last turn's reading
  std::uint64_t use_counter_ = 0;
  std::map<std::string, Experiment> in_flight_;
  std::deque<Experiment> waiting_;
  int planner_proposals_ = 0;  // points the planner proposed (ids <name>-0001, …)
  int discarded_ = 0;          // of those, ended without a verdict (operator stop)
  int asks_ = 0;
  std::string id_tag_;  // in experiment ids: the start of the campaign id (empty for older journals)
  int done_ = 0;
  int failed_ = 0;
  int met_failure_condition_ = 0;
  std::optional<double> best_;
  std::string best_experiment_;
  json best_params_;
  bool thinking_ = false;
  std::optional<StopReason> stop_;  // set once, with reason_ (its journaled text)
  std::string reason_;
  std::optional<Clock::time_point> stop_deadline_;
  Clock::time_point started_ = Clock::now();           // the campaign's first start (moved back on resume)
  const Clock::time_point this_start_ = Clock::now();  // this process's start
  Clock::time_point last_report_{};
  Clock::duration report_interval_ = std::chrono::seconds(1);  // see write_reports
  bool reports_due_ = false;  // an event since the reports were last written
  // What pareto() returns, and whether a result arrived since (true at first: a resumed campaign
  // has results from the start).
  mutable std::optional<ParetoSummary> pareto_;
  mutable bool pareto_stale_ = true;
};

}  // namespace

std::uint64_t open_files_needed(const CampaignConfig& config) {
  // With fewer than 64 ZeroMQ aborted (16) or an instrument that could not get its descriptors
  // looked as if it did not answer.
  constexpr std::uint64_t kLeast = 64, kBase = 24, kPerInstrument = 10;
  return std::max(kLeast, kBase + kPerInstrument * config.instruments.size());
}

void refuse_too_few_open_files(const CampaignConfig& config, std::uint64_t allowed) {
  const std::uint64_t needed = open_files_needed(config);
  if (allowed >= needed) return;
  throw Error(fmt::format("at most {} open files are allowed (ulimit -n); a campaign with {} instrument{} needs at least {} (24, and "
                          "about 10 per instrument): raise it (ulimit -n {}, or more)",
                          allowed, config.instruments.size(), config.instruments.size() == 1 ? "" : "s", needed, std::max<std::uint64_t>(needed, 1024)));
}

const char* further_than_target(const CampaignConfig& config) {
  return !config.objectives.empty() && config.objectives.front().goal == Goal::maximize ? "higher" : "lower";
}

std::filesystem::path campaign_output(const CampaignConfig& config, const CampaignOptions& options) {
  return options.output ? std::filesystem::path(*options.output) : std::filesystem::path(config.output + (options.dry_run ? "-dry-run" : ""));
}

std::vector<InstrumentCheck> check_instruments(const CampaignConfig& config, const CampaignOptions& options) {
  CampaignRun run(config, options, nullptr);
  return run.check_instruments();
}

CampaignSummary run_campaign(const CampaignConfig& config, const CampaignOptions& options, CampaignObserver* observer) {
  CampaignRun run(config, options, observer);
  return run.run();
}

KeyPair read_controller_key(const CampaignConfig& config) {
  try {
    return read_signing_key(config.controller_key);
  } catch (const Error& e) {
    throw ConfigError(config.source, "/controller_key", fmt::format("{} (the key that signs this campaign's journal)", e.what()));
  }
}

// One journal, one key: `verify --key` checks every signature with one key, so a resume (or an
// extend, or a correction) with another key would leave a journal nobody can prove. And a
// signature appended over an edited journal would prove the edit: every signature already there
// must be this key's of the journal as it is now. Refused before anything is written.
void refuse_another_signing_key(const CampaignConfig& config, const std::vector<JournalEvent>& events, const KeyPair& key) {
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    const auto* signed_by = it->as<JournalSignedEvent>();
    if (!signed_by) continue;
    if (signed_by->key_fingerprint != key.public_key.fingerprint())
      throw ConfigError(config.source, "/controller_key",
                        fmt::format("{} is key \"{}\" ({}), but line {} of the journal is signed by \"{}\" ({}): put back the key that "
                                    "signed it, so that one key proves the whole journal",
                                    config.controller_key, key.public_key.name, key.public_key.fingerprint(), it->seq, signed_by->key_name,
                                    signed_by->key_fingerprint));
    break;
  }
  // The sessions record the key they ran with, also before the first signature.
  for (const JournalEvent& e : events) {
    std::optional<std::string> name, fingerprint;
    if (const auto* started = e.as<CampaignStartedEvent>()) name = started->key_name, fingerprint = started->key_fingerprint;
    else if (const auto* resumed = e.as<CampaignResumedEvent>()) name = resumed->key_name, fingerprint = resumed->key_fingerprint;
    if (fingerprint && !fingerprint->empty() && *fingerprint != key.public_key.fingerprint())
      throw ConfigError(config.source, "/controller_key",
                        fmt::format("{} is key \"{}\" ({}), but line {} of the journal records that the campaign {} with key \"{}\" ({}): "
                                    "put back the key it ran with, so that one key proves the whole journal",
                                    config.controller_key, key.public_key.name, key.public_key.fingerprint(), e.seq,
                                    e.kind() == EventKind::campaign_started ? "started" : "was resumed", name.value_or(""), *fingerprint));
  }
  if (const std::string problem = first_failing_signature(events, key.public_key); !problem.empty()) {
    // The journaled configuration's source names the journal and its first line.
    std::string journal = config.source.empty() ? std::string("journal.jsonl") : config.source;
    if (const auto at = journal.rfind(" (campaign_started)"); at != std::string::npos) journal.resize(at);
    throw Error(fmt::format("{}: {}: signing it again would prove the change, so nothing was written. Restore journal.jsonl from a copy "
                            "and find out who changed it (`labloop verify` with --key {} lists every line that fails)",
                            journal, problem, public_key_path(config.controller_key).string()));
  }
}

}  // namespace labloop
