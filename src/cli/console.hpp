#pragma once
// `labloop console DIR…`: the operator console, a page in the browser that shows where each
// campaign stands — running or not, budget used, what is open and where, the best result, every
// experiment and the convergence plot — and follows them live. It reads the campaign folders as
// `labloop status` does (never locking or writing their journals), so it can run beside the
// campaigns, be stopped and started at will, and show finished ones too. The one thing it writes
// is a result a person enters in its form, into the campaign's inbox exactly as `labloop enter`
// does, for whoever holds its key (decision 0026). docs/console.md.
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "labloop/campaign/campaign_overview.hpp"
#include "labloop/campaign/simulator_catalogue.hpp"

namespace labloop::cli {

// What the console answers one request with.
struct ConsoleResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

// The console's pages and JSON API, without the socket: every route is a function of the
// request and the campaign folders, so the tests ask it directly. Safe to call from several
// threads at once (the HTTP server's pool).
//
//   GET  /                                  the page (console.js and console.css beside it)
//   GET  /api/campaigns                     {"entries", "campaigns": [{"index", "folder", "overview"} or {"index", "folder", "error"}]}
//   GET  /api/campaigns/N/experiments       {"index", "folder", "campaign", "parameters", "outputs", "objective", "goal",
//                                            "experiments": [the last kMostExperimentsShown, in proposal order], "omitted"}
//   GET  /api/campaigns/N/convergence.svg   the campaign's convergence plot
//   GET  /api/campaigns/N/pareto.svg        its Pareto front, for several objectives (404 for one)
//   GET  /api/campaigns/N/pending           what `labloop pending` lists, and the outputs a person may enter
//   POST /api/campaigns/N/entries           a result a person enters, checked and saved as `labloop enter` does;
//                                            needs the console's key (X-Labloop-Key)
//   POST /api/campaigns/N/stop              asks the running campaign to stop as on Ctrl-C (stop_request.hpp); the key too
//
// Anything else is 404, another method 405, and 403 a request whose Host is not this machine (a
// web page elsewhere cannot read the console through a name that points here: DNS rebinding) or
// that a page of another origin sent (Origin, Sec-Fetch-Site: it could not read the answer, but
// could keep the console busy). Errors are JSON {"error": "…"}.
struct ConsoleRequest {
  std::string method, target;
  std::string host;          // the Host header
  std::string origin;        // the Origin header, "" when none
  std::string fetch_site;    // Sec-Fetch-Site, "" when none (not a browser, or an old one)
  std::string key;           // X-Labloop-Key, "" when none
  std::string content_type;  // Content-Type, for a POST
  std::string body;
};

// Who may enter results through the console: whoever has its key, a random one made at each start
// and printed in the address the console gives (docs/console.md, decision 0026). Without a key the
// console only shows.
struct ConsoleEntries {
  std::string key;       // "" for a read-only console
  std::string operator_name;  // `by` for an entry that names no one: the user who started the console
};

// What run_console's HTTP server knows of a request before any handler (its pre-routing and error
// handlers): the method and how many of which headers.
struct ConsoleRequestHead {
  std::string method;
  bool method_known = true;  // one the HTTP server parses (a request line of another it refuses as 400)
  std::size_t headers = 0, hosts = 0, content_lengths = 0;
  bool range = false, chunked = false;
  // The first of the headers the console judges a request by (kJudgedHeaders: Origin,
  // Sec-Fetch-Site, X-Labloop-Key, Content-Type) that it carries more than once, "" when none.
  std::string repeated;
};

// The headers ConsoleSite::respond judges a request by, besides Host: each must come at most once.
inline constexpr const char* kJudgedHeaders[] = {"Origin", "Sec-Fetch-Site", "X-Labloop-Key", "Content-Type"};

// The answer to a request refused before the site sees it, or nothing: a method the console has
// no route for (405, also one the HTTP server does not know), a Host or Content-Length given twice
// (400: which copy is meant is unknown, RFC 7230 §3.3.2, §5.4), one of kJudgedHeaders given twice
// (400: the HTTP server hands the console the first copy only, so a request would be judged by one
// of two answers to "where from" or "which key"), a Range (416), more than
// kMostHeaders headers (431), a body sent in chunks or a POST, PUT or PATCH without a
// Content-Length (411: read until the sender closes, it would hold a serving thread).
std::optional<ConsoleResponse> refuse_before_routing(const ConsoleRequestHead& head);

// A fresh key for ConsoleEntries: 128 random bits from the kernel, as 32 hexadecimal digits.
std::string new_console_key();

class ConsoleSite {
 public:
  static constexpr std::size_t kMostCampaigns = 64;
  static constexpr std::size_t kMostExperimentsShown = 1000;
  static constexpr std::size_t kMostEntriesLooked = 10000;
  // Memory: every campaign's overview is kept (a card's worth), and the whole reading — each
  // experiment's record, the config and state, some 4 bytes for each byte of journal — of the
  // campaigns last shown in detail, as many as have journals of kMostWholeJournalBytes together
  // (the last shown always); another's is read again when asked. Kept for every campaign, 4
  // campaigns of 1000 experiments of 500 parameters held 589 MB; kept for 2 only, viewers of 3
  // campaigns each read their campaign again at every refresh.
  static constexpr std::uint64_t kMostWholeJournalBytes = 64ull << 20;
  // /experiments sends the last kMostExperimentsShown experiments, fewer when they would hold more
  // than kMostValuesShown values (settings, objective, outputs): 1000 rows of 500 parameters were
  // a 13 MB answer, drawn again at every refresh.
  static constexpr std::size_t kMostValuesShown = 100000;

  // `folders`: campaign folders (or their journal.jsonl), or folders holding campaign folders
  // (runs/ with runs/a, runs/b…), at most kMostCampaigns given. A folder without a journal whose
  // subfolders hold journals shows each of them, and those started later too (looked for at
  // each /api/campaigns, among its first kMostEntriesLooked entries); any other folder is one
  // campaign, read when asked, so one that has not started yet shows its error until it does.
  // A campaign keeps its number once shown; at most kMostCampaigns are shown.
  // `whole_journal_bytes`: kMostWholeJournalBytes but in tests.
  ConsoleSite(std::vector<std::filesystem::path> folders, const SimulatorCatalogue& simulators, ConsoleEntries entries = {},
              std::uint64_t whole_journal_bytes = kMostWholeJournalBytes);
  ConsoleResponse respond(const ConsoleRequest& request) const;
  // Places given to campaigns so far (numbers 0 … N-1; a folder of campaigns holds several).
  std::size_t campaign_count() const;
  // The same for a request with only a Host (scripts, tests).
  ConsoleResponse respond(const std::string& method, const std::string& target, const std::string& host) const {
    return respond(ConsoleRequest{method, target, host, "", "", "", "", ""});
  }

 private:
  struct Reading;  // one campaign read, kept while its journal and whether it runs are unchanged
  // What a request needs of a campaign: its card's overview, or everything read (its experiments,
  // plots, what waits for a person); for an action (a stop, an entry's check), as the journal is
  // now: a running campaign's recent reading, which the others may be served, is not enough.
  enum class Need { overview, whole, overview_now, whole_now };
  std::shared_ptr<const Reading> read(std::size_t index, Need need) const;
  // Marks `index` as the campaign last shown in detail, letting go of the whole reading of those
  // shown longest ago while the journals of those kept hold more than whole_journal_bytes_
  // together. With mutex_ held.
  void keep_whole(std::size_t index) const;
  ConsoleResponse campaigns() const;
  ConsoleResponse experiments(std::size_t index) const;
  ConsoleResponse convergence(std::size_t index) const;
  ConsoleResponse pareto(std::size_t index) const;
  ConsoleResponse pending(std::size_t index) const;
  ConsoleResponse enter(std::size_t index, const ConsoleRequest& request) const;
  ConsoleResponse stop(std::size_t index, const ConsoleRequest& request) const;
  // Why a request to act (enter, stop) is refused before its body is read: no key, a wrong one, a
  // read-only console, not JSON. nullopt when it may go on.
  std::optional<ConsoleResponse> refuse_action(const ConsoleRequest& request) const;

  // The campaigns shown, in the order first seen (a number, once given, stays); the folders given
  // that hold campaign folders are looked into again by discover().
  void discover() const;
  std::filesystem::path folder(std::size_t index) const;

  std::vector<std::filesystem::path> given_;
  mutable std::mutex folders_mutex_;  // guards folders_, reading_'s growth and not_shown_
  mutable std::vector<std::filesystem::path> folders_;
  mutable std::vector<std::filesystem::path> identities_;  // each campaign's journal, resolved: one campaign, one place
  mutable std::vector<bool> hidden_;  // a place given to a folder that now holds campaigns
  mutable std::size_t not_shown_ = 0;  // campaigns found past kMostCampaigns
  const SimulatorCatalogue& simulators_;
  ConsoleEntries entries_;
  std::uint64_t whole_journal_bytes_;
  // One per folder: a campaign is read by one request at a time, and the others asking meanwhile
  // take that reading (a long journal takes a noticeable time and memory to fold).
  mutable std::deque<std::mutex> reading_;  // a deque: growing it moves none
  mutable std::mutex mutex_;  // guards readings_ and whole_
  mutable std::map<std::size_t, std::shared_ptr<const Reading>> readings_;
  mutable std::deque<std::size_t> whole_;  // the campaigns whose whole reading is kept, the last shown first
  mutable std::atomic<std::uint64_t> versions_{0};  // readings made
};

struct ConsoleCommand {
  std::vector<std::string> folders;
  std::string listen = "127.0.0.1:8765";
  bool read_only = false;  // no key: the page only shows (a screen on the wall)
};

// Registers `console` on `app`; returns its subcommand.
CLI::App* add_console_command(CLI::App& app, ConsoleCommand& command);

// Serves until SIGINT or SIGTERM. Exit codes: 0 after a stop, 1 when it cannot listen there, 2
// for a mistake in the options (a ConfigError: an address not on this machine, too many folders).
int run_console(const ConsoleCommand& command, const SimulatorCatalogue& simulators);

}  // namespace labloop::cli
