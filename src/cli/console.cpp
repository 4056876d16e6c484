#include "console.hpp"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <malloc.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <iostream>
#include <thread>

#include "console_assets.hpp"  // generated from src/cli/console/: the page, its script and style
#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/json_limits.hpp"
#include "labloop/core/os_user.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/utc_time.hpp"
#include "labloop/campaign/manual_entry.hpp"
#include "labloop/campaign/stop_request.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/report.hpp"
#include "bounded_http_server.hpp"
#include "serving_pool.hpp"

namespace labloop::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char* const kJson = "application/json";
constexpr std::size_t kServingThreads = 32;        // kept ready
constexpr std::size_t kMostServingThreads = 512;   // connections served at once; those past it wait for one to close
constexpr std::size_t kMostHeaders = 100;

// httplib's queue of accepted connections, served by a ServingPool.
class ServingQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { pool_.run(std::move(fn)); }
  void shutdown() override { pool_.shutdown(); }

 private:
  ServingPool pool_{kServingThreads, kMostServingThreads};
};

ConsoleResponse error_response(int status, const std::string& why) {
  return {status, kJson, json{{"error", why}}.dump(-1, ' ', false, json::error_handler_t::replace)};
}

ConsoleResponse json_response(const json& body) { return {200, kJson, body.dump(-1, ' ', false, json::error_handler_t::replace)}; }

// A blank "by" sent (the page leaves it out when no name is typed): refused by entries and stops alike.
constexpr const char* kBlankBy = "\"by\" is blank: give a name, or leave \"by\" out to record the user who started the console";

// The campaign number in "/api/campaigns/N/…": digits only, no sign, no leading zeros but "0".
std::optional<std::size_t> campaign_number(const std::string& text) {
  if (text.empty() || text.size() > 6 || (text.size() > 1 && text.front() == '0')) return std::nullopt;
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

// A Host header naming this machine: localhost, 127.0.0.1 (any 127.x), [::1], with any port.
bool host_is_this_machine(const std::string& host) {
  std::string name = host;
  if (!name.empty() && name.front() == '[') {
    const auto close = name.find(']');
    if (close == std::string::npos) return false;
    const std::string after = name.substr(close + 1);  // nothing, or ":PORT"
    if (!after.empty() && (after.front() != ':' || after.size() == 1 ||
                           !std::all_of(after.begin() + 1, after.end(), [](char c) { return c >= '0' && c <= '9'; })))
      return false;
    name = name.substr(1, close - 1);
  } else if (const auto colon = name.rfind(':'); colon != std::string::npos) {
    const std::string port = name.substr(colon + 1);
    if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    name = name.substr(0, colon);
  }
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name == "localhost" || name == "::1") return true;
  // 127.a.b.c, each a number from 0 to 255: not "127.0.0.1.evil.example".
  int parts = 0, value = -1;
  for (const char c : name + ".") {
    if (c == '.') {
      if (value < 0 || value > 255 || (parts == 0 && value != 127)) return false;
      ++parts;
      value = -1;
    } else if (c >= '0' && c <= '9' && value < 1000) {
      value = (value < 0 ? 0 : value * 10) + (c - '0');
    } else {
      return false;
    }
  }
  return parts == 4;
}

json experiment_json(const ExperimentRecord& x) {
  json j{{"experiment", x.id}, {"status", x.status}, {"params", x.params}, {"proposed_at", x.proposed_at}};
  if (!x.instrument.empty()) j["instrument"] = x.instrument;
  if (!x.dispatched_at.empty()) j["dispatched_at"] = x.dispatched_at;
  if (!x.finished_at.empty()) j["finished_at"] = x.finished_at;
  if (x.status == "ok") j["values"] = x.values;
  if (x.objective) j["objective"] = *x.objective;
  if (!x.error.empty()) j["error"] = x.error;
  if (x.counts) j["counts"] = *x.counts;
  if (x.pareto) j["pareto"] = *x.pareto;
  return j;
}

// Whether `given` is `key`, in a time that does not depend on where they differ.
bool same_key(const std::string& given, const std::string& key) {
  if (given.size() != key.size()) return false;
  unsigned char differ = 0;
  for (std::size_t i = 0; i < key.size(); ++i) differ |= static_cast<unsigned char>(given[i] ^ key[i]);
  return differ == 0;
}

// Deepest an entry's JSON nests: {"values": {…}}.
constexpr std::size_t kMaxEntryDepth = 2;

// A result from the form: {"experiment": ID, "values": {NAME: "as typed", …}} or {"experiment":
// ID, "failed": "why"}, and optionally "by". Values are read by parse_assignments, the words of
// `labloop enter NAME=VALUE`, so the form and the command line take exactly the same numbers.
// Throws Error saying what is wrong with the request itself; the values' words come back unread,
// for the caller to refuse as `enter` does.
struct FormEntry {
  ManualEntry entry;
  std::vector<std::string> words;  // NAME=VALUE
  std::optional<std::string> repeated;  // a key given twice ("/values/yield"): refused as enter refuses it
};
FormEntry entry_from_request(const std::string& body) {
  if (find_excess_nesting(body, kMaxEntryDepth)) throw Error("the entry nests deeper than {\"values\": {…}}");
  // The parser keeps the last of a repeated key; {"yield": "5", "yield": "50"} is refused instead,
  // as `enter yield=5 yield=50` is.
  std::optional<std::string> repeated;
  json j;
  try {
    j = parse_json_noting_repeats(body, false, repeated);
  } catch (const json::out_of_range& e) {
    // A number past a double's range ({"yield": 1e999}) is JSON: said as the same value typed as
    // text is (parse_assignments), not as a body that is no JSON at all.
    const std::string what = e.what();
    const auto open = what.find('\''), close = what.rfind('\'');
    if (e.id != 406 || open == std::string::npos || close <= open) throw Error("the entry is not JSON");
    throw Error(fmt::format("{} is too large for a number (at most about 1.8e308)", what.substr(open + 1, close - open - 1)));
  } catch (const json::exception&) {
    throw Error("the entry is not JSON");
  }
  if (!j.is_object()) throw Error("the entry must be a JSON object");
  for (const auto& [key, value] : j.items())
    if (key != "experiment" && key != "values" && key != "failed" && key != "by")
      throw Error(fmt::format("the entry has \"{}\"; it takes experiment, values, failed and by", key));
  if (!j.contains("experiment") || !j["experiment"].is_string()) throw Error("the entry needs \"experiment\", a string");
  ManualEntry e;
  std::vector<std::string> words;
  e.experiment = j["experiment"].get<std::string>();
  e.source = "console";
  if (j.contains("by")) {
    if (!j["by"].is_string()) throw Error("\"by\" must be a string");
    // Trimmed as labloop enter trims --by: "  Ana" is Ana, not another person.
    e.by = trimmed(j["by"].get<std::string>());
    // The page leaves "by" out when no name is typed (the console's operator is recorded then): a
    // blank one sent is a name of nobody, refused as labloop enter --by "" is.
    if (is_blank(e.by)) throw Error(kBlankBy);
  }
  if (j.contains("failed")) {
    if (!j["failed"].is_string()) throw Error("\"failed\" must be a string: why it failed");
    e.failed = trimmed(j["failed"].get<std::string>());
  }
  if (j.contains("values")) {
    if (!j["values"].is_object()) throw Error("\"values\" must be an object of NAME: \"value\"");
    for (const auto& [name, value] : j["values"].items()) {
      if (!value.is_string() && !value.is_number()) throw Error(fmt::format("the value of \"{}\" must be a string (as typed) or a number", name));
      words.push_back(name + "=" + (value.is_string() ? value.get<std::string>() : value.dump()));
    }
  }
  return {std::move(e), std::move(words), std::move(repeated)};
}

}  // namespace

// FileStamp and JournalStamp are outside the anonymous namespace: ConsoleSite::Reading holds one.

// What a file is now, as stat(2) says (following links, as reading it does): which file (device,
// inode), of what type, its size, and when its bytes (mtime) and its inode (ctime) last changed;
// or why it cannot be looked at (errno). The ctime cannot be set back by hand: a same-size edit
// with the mtime kept (cp -p, rsync -a, a restore) still changes it.
struct FileStamp {
  int error = 0;
  std::uint64_t device = 0, inode = 0;
  std::uint32_t type = 0;
  std::int64_t size = 0, modified_ns = 0, changed_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

static FileStamp file_stamp(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FileStamp{.error = errno};
  const auto ns = [](const timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; };
  return FileStamp{.device = st.st_dev,
                   .inode = st.st_ino,
                   .type = st.st_mode & S_IFMT,
                   .size = st.st_size,
                   .modified_ns = ns(st.st_mtim),
                   .changed_ns = ns(st.st_ctim)};
}

// Everything a campaign's reading is drawn from: its journal, and the displaced copies beside it
// that its card names (each with its event count). A campaign is read again once any of it
// changes. Size and mtime alone kept a card stale: every journal that could not be read stamped
// alike (a journal that was a folder kept saying so once it was gone), a displaced copy moved out
// kept its note, and a same-size edit with its mtime restored was shown as before (red-team report).
struct JournalStamp {
  FileStamp journal;
  std::vector<std::pair<fs::path, FileStamp>> displaced;
  bool operator==(const JournalStamp&) const = default;
};

namespace {

JournalStamp journal_stamp(const fs::path& folder) {
  const fs::path journal = journal_path_of(folder);
  JournalStamp stamp{file_stamp(journal), {}};
  for (const fs::path& copy : displaced_copies(journal)) stamp.displaced.emplace_back(copy, file_stamp(copy));
  return stamp;
}

}  // namespace

struct ConsoleSite::Reading {
  JournalStamp stamp;
  bool running = false;
  std::uint64_t version = 0;  // another for each reading made: what the page compares to skip redrawing
  std::optional<CampaignOverview> overview;  // what its card shows; none when it could not be read
  // Everything read (each experiment's record, the config, the state): for the campaigns last
  // shown in detail only (ConsoleSite::keep_whole), null for the others.
  std::shared_ptr<const CampaignView> view;
  std::string error;  // when the folder could not be read as a campaign
  std::chrono::steady_clock::time_point made;  // when it was read, and how long that took
  std::chrono::steady_clock::duration cost{};
  // Its HTTP status: 404 when the folder holds no journal (gone since the console started), 500
  // when it holds one that cannot be read (damaged): the campaign is there, the server failed it.
  int error_status = 404;
};

// A folder's name as JSON carries it: as it is, or, when it is not UTF-8, escaped as status writes
// it (run\xff), not turned into U+FFFD, which made two folders read the same.
static std::string shown_path(const fs::path& path) { return valid_utf8(path.string()) ? path.string() : printable(path.string()); }

std::optional<ConsoleResponse> refuse_before_routing(const ConsoleRequestHead& head) {
  // The methods run_console routes to the site, which answers each (405 itself for all but GET,
  // HEAD and POST); TRACE, CONNECT, PRI and methods the HTTP server does not know would get its
  // bare 400.
  static const std::vector<std::string> routed{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  if (!head.method_known || std::find(routed.begin(), routed.end(), head.method) == routed.end())
    return error_response(405, "the console shows with GET; it takes POST at /api/campaigns/N/entries and /api/campaigns/N/stop only");
  // Two copies: the HTTP server reads the first, something between here and the sender may have
  // read the other (a request smuggled past it).
  if (head.hosts > 1) return error_response(400, "the request has more than one Host header");
  if (head.content_lengths > 1) return error_response(400, "the request has more than one Content-Length header");
  // Origin, Sec-Fetch-Site, the key and the Content-Type decide whether a request is taken; the
  // HTTP server hands over the first copy of each, so two copies would be judged by one of them.
  if (!head.repeated.empty()) return error_response(400, fmt::format("the request has more than one {} header", head.repeated));
  if (head.headers > kMostHeaders) return error_response(431, "too many headers");
  // Ranges: httplib would send the body once per range asked, so a short header could ask for
  // gigabytes; the console's answers are small.
  if (head.range) return error_response(416, "the console does not serve ranges");
  // httplib 0.11 holds a chunked body whole in memory, without the 64 KiB limit it applies to a
  // body with a Content-Length (which browsers send).
  if (head.chunked) return error_response(411, "send the body with a Content-Length, not in chunks");
  // Without either, httplib reads a POST's, PUT's or PATCH's body until the sender closes: one sent
  // a byte at a time would hold a serving thread for as long as the sender likes.
  static const std::vector<std::string> with_body{"POST", "PUT", "PATCH"};
  if (head.content_lengths == 0 && std::find(with_body.begin(), with_body.end(), head.method) != with_body.end())
    return error_response(411, "send the body with a Content-Length");
  return std::nullopt;
}

std::string new_console_key() {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("labloop console: cannot make a key: the kernel gives no random bytes ({})", std::strerror(errno)));
    got += static_cast<std::size_t>(n);
  }
  std::string key;
  for (const unsigned char b : bytes) key += fmt::format("{:02x}", b);
  return key;
}

ConsoleSite::ConsoleSite(std::vector<fs::path> folders, const SimulatorCatalogue& simulators, ConsoleEntries entries,
                         std::uint64_t whole_journal_bytes)
    : given_(std::move(folders)), simulators_(simulators), entries_(std::move(entries)), whole_journal_bytes_(whole_journal_bytes) {
  if (given_.size() > kMostCampaigns)
    throw ConfigError("labloop console", "folders", fmt::format("{} given; the console shows at most {}", given_.size(), kMostCampaigns));
  discover();
}

namespace {

// Anything named journal.jsonl makes a campaign folder: one that is no file (a pipe, a folder, a
// link to a device) is shown with the error reading it gives, not left out without a word.
bool holds_journal(const fs::path& folder) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(journal_path_of(folder), ec));
}

// The campaign folders directly in `parent`, by name, among its first `most` entries.
std::vector<fs::path> campaigns_in(const fs::path& parent, std::size_t most) {
  std::vector<fs::path> found;
  std::error_code ec;
  std::size_t looked = 0;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end && looked < most; it.increment(ec), ++looked) {
    std::error_code is_dir;
    if (it->is_directory(is_dir) && holds_journal(it->path())) found.push_back(it->path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

namespace {

// One campaign however it is named: ./runs/a, runs/a/, a link to it, its journal.jsonl; the
// same before and after its journal exists. The folder decides, not where its journal leads: two
// campaigns whose journals are links into one archive folder are two campaigns.
fs::path campaign_identity(const fs::path& folder) {
  const fs::path named = folder.filename() == "journal.jsonl" ? folder.parent_path() : folder;
  std::error_code ec;
  if (const fs::path real = fs::canonical(named.empty() ? fs::path(".") : named, ec); !ec) return real;
  const fs::path near = fs::weakly_canonical(named, ec);
  return ec ? folder : near;
}

}  // namespace

void ConsoleSite::discover() const {
  std::vector<fs::path> seen, parents;
  for (const fs::path& given : given_) {
    std::vector<fs::path> inside;
    // A folder that cannot be looked at (no permission, a link loop) is a campaign whose card says
    // why, as reading it will: the others are shown as before.
    std::error_code unreadable;
    if (!holds_journal(given) && fs::is_directory(given, unreadable)) inside = campaigns_in(given, kMostEntriesLooked);
    if (inside.empty()) {
      seen.push_back(given);
    } else {
      seen.insert(seen.end(), inside.begin(), inside.end());
      parents.push_back(given);
    }
  }
  std::vector<fs::path> identities;
  for (const fs::path& f : seen) identities.push_back(campaign_identity(f));
  std::lock_guard lock(folders_mutex_);
  const auto is_parent = [&parents](const fs::path& f) { return std::find(parents.begin(), parents.end(), f) != parents.end(); };
  // A folder of campaigns given empty keeps its number, but it is not shown: no place of the
  // kMostCampaigns shown.
  std::size_t shown = std::count_if(folders_.begin(), folders_.end(), [&](const fs::path& f) { return !is_parent(f); });
  std::size_t beyond = 0;
  for (std::size_t k = 0; k < seen.size(); ++k) {
    if (std::find(identities_.begin(), identities_.end(), identities[k]) != identities_.end()) continue;
    if (shown >= kMostCampaigns) {
      ++beyond;
      continue;
    }
    folders_.push_back(seen[k]);
    identities_.push_back(identities[k]);
    reading_.emplace_back();
    ++shown;
  }
  // A folder given empty took a place as a campaign to come; once campaigns start inside it, it
  // is a folder of campaigns and its place is no longer shown (its number stays taken).
  hidden_.assign(folders_.size(), false);
  for (std::size_t i = 0; i < folders_.size(); ++i) hidden_[i] = is_parent(folders_[i]);
  not_shown_ = beyond;
}

fs::path ConsoleSite::folder(std::size_t index) const {
  std::lock_guard lock(folders_mutex_);
  return folders_.at(index);
}

std::size_t ConsoleSite::campaign_count() const {
  std::lock_guard lock(folders_mutex_);
  return folders_.size();
}

std::shared_ptr<const ConsoleSite::Reading> ConsoleSite::read(std::size_t index, Need need) const {
  const bool wants_whole = need == Need::whole || need == Need::whole_now;
  const fs::path folder = this->folder(index);
  std::mutex* folder_mutex;
  {
    std::lock_guard lock(folders_mutex_);
    folder_mutex = &reading_[index];
  }
  std::lock_guard one_at_a_time(*folder_mutex);
  // Read again only when the journal or a displaced copy beside it has changed (journal_stamp), or
  // whether a labloop process holds it (which the journal's bytes do not say: a kill -9 leaves
  // them as they were). A finished campaign is read once; its whole reading is read again only
  // when it was let go (below) and is asked for.
  const auto stamp = journal_stamp(folder);
  const bool running = campaign_running(journal_path_of(folder));
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    const auto it = readings_.find(index);
    // A running campaign's journal changes at every event: each request that had waited for the
    // last reading read it again, whole, one after the other (a 64 MB journal: 2.3 s a reading,
    // the tenth of ten viewers answered after 25 s). A reading is served until it is five times
    // as old as it took to make: a long campaign's page is a few seconds behind, a short one's not.
    const bool fresh_enough = [&] {
      if (it == readings_.end() || it->second->running != running) return false;
      const bool now_wanted = need == Need::overview_now || need == Need::whole_now;
      return it->second->stamp == stamp || (!now_wanted && running && now - it->second->made < 5 * it->second->cost);
    }();
    if (fresh_enough && (!wants_whole || it->second->view || !it->second->overview)) {
      if (wants_whole) keep_whole(index);
      return it->second;
    }
  }
  auto reading = std::make_shared<Reading>();
  reading->stamp = stamp;
  reading->running = running;
  reading->version = ++versions_;
  std::shared_ptr<CampaignView> view;
  try {
    view = std::make_shared<CampaignView>(campaign_view(folder, simulators_));
    reading->overview = view->overview;
  } catch (const std::exception& e) {
    reading->error = e.what();
    std::error_code ec;
    if (fs::exists(journal_path_of(folder), ec)) reading->error_status = 500;
  }
  reading->made = now;
  reading->cost = std::chrono::steady_clock::now() - now;
  {
    std::lock_guard lock(mutex_);
    // The whole reading is kept for the campaigns last shown in detail only (keep_whole); for the
    // others, the overview their cards need.
    if (view && (wants_whole || std::find(whole_.begin(), whole_.end(), index) != whole_.end())) reading->view = std::move(view);
    readings_[index] = reading;
    if (wants_whole) keep_whole(index);
  }
  // What the fold took, and a reading replaced, are free now (or once the requests still holding
  // it end): given back to the system, not kept by malloc for the life of the console. A journal
  // of 1000 experiments of 500 parameters takes some 100 MB to fold.
  view.reset();
  ::malloc_trim(0);
  return reading;
}

void ConsoleSite::keep_whole(std::size_t index) const {
  whole_.erase(std::remove(whole_.begin(), whole_.end(), index), whole_.end());
  whole_.push_front(index);
  // A reading's size goes with its journal's (some 4 bytes for each byte): the campaigns shown
  // last are kept while their journals hold at most whole_journal_bytes_ together, the last
  // shown whatever its size.
  std::uint64_t kept = 0;
  std::size_t keep = 0;
  for (; keep < whole_.size(); ++keep) {
    const auto it = readings_.find(whole_[keep]);
    const std::uint64_t size = it == readings_.end() ? 0 : static_cast<std::uint64_t>(std::max<std::int64_t>(it->second->stamp.journal.size, 0));
    if (keep > 0 && kept + size > whole_journal_bytes_) break;
    kept += size;
  }
  while (whole_.size() > keep) {
    // Let go: the campaign keeps its overview, and is read again when its detail is asked.
    const auto it = readings_.find(whole_.back());
    whole_.pop_back();
    if (it == readings_.end() || !it->second->view) continue;
    auto overview_only = std::make_shared<Reading>(*it->second);
    overview_only->view.reset();
    it->second = std::move(overview_only);
  }
}

ConsoleResponse ConsoleSite::respond(const ConsoleRequest& request) const {
  if (!host_is_this_machine(request.host)) return error_response(403, "the console answers requests addressed to this machine (localhost) only");
  // Its own page sends no Origin on a GET (and its own on a POST) and Sec-Fetch-Site same-origin;
  // a typed address or a bookmark is "none". Another page's requests are refused before any work.
  if (!request.fetch_site.empty() && request.fetch_site != "same-origin" && request.fetch_site != "none")
    return error_response(403, "the console answers its own page only, not requests from other web pages");
  if (!request.origin.empty() && request.origin != "http://" + request.host)
    return error_response(403, "the console answers its own page only, not requests from other web pages");
  const std::string path = request.target.substr(0, request.target.find('?'));
  // "/api/campaigns/N/what": the campaign's number and what of it.
  std::optional<std::size_t> index;
  std::string what;
  if (const std::string prefix = "/api/campaigns/"; path.rfind(prefix, 0) == 0) {
    const std::string rest = path.substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash != std::string::npos && (index = campaign_number(rest.substr(0, slash)))) what = rest.substr(slash + 1);
  }
  if (index && (what == "entries" || what == "stop")) {
    if (request.method != "POST") return error_response(405, what == "stop" ? "a stop is asked with POST" : "results are entered with POST");
    if (*index >= campaign_count()) return error_response(404, fmt::format("no campaign {}: there are {}", *index, campaign_count()));
    return what == "stop" ? stop(*index, request) : enter(*index, request);
  }
  // What is shown, each address once. An address that is none (a campaign number written 00, -1
  // or 0x0, a trailing slash) is 404 whatever the method: a 405 would say the address is right.
  using View = ConsoleResponse (ConsoleSite::*)(std::size_t) const;
  static const std::map<std::string, View> views{{"experiments", &ConsoleSite::experiments}, {"convergence.svg", &ConsoleSite::convergence},
                                                 {"pareto.svg", &ConsoleSite::pareto}, {"pending", &ConsoleSite::pending}};
  static const std::map<std::string, ConsoleResponse> assets{
      {"/", {200, "text/html; charset=utf-8", std::string(console_assets::kPage)}},
      {"/index.html", {200, "text/html; charset=utf-8", std::string(console_assets::kPage)}},
      {"/console.js", {200, "text/javascript; charset=utf-8", std::string(console_assets::kScript)}},
      {"/console.css", {200, "text/css; charset=utf-8", std::string(console_assets::kStyle)}},
      {"/favicon.ico", {204, "image/x-icon", ""}}};  // none: the browser asks anyway
  const auto view = index ? views.find(what) : views.end();
  const auto asset = assets.find(path);
  const bool listing = path == "/api/campaigns";
  if (asset == assets.end() && !listing && view == views.end()) return error_response(404, "no such page");
  if (request.method != "GET" && request.method != "HEAD")
    return error_response(405, "the console shows with GET; it takes POST at /api/campaigns/N/entries and /api/campaigns/N/stop only");
  if (asset != assets.end()) return asset->second;
  if (listing) return campaigns();
  if (*index >= campaign_count()) return error_response(404, fmt::format("no campaign {}: there are {}", *index, campaign_count()));
  return (this->*(view->second))(*index);
}

ConsoleResponse ConsoleSite::campaigns() const {
  json list = json::array();
  discover();  // campaigns started meanwhile in a folder of campaigns
  const std::size_t count = campaign_count();
  for (std::size_t i = 0; i < count; ++i) {
    {
      std::lock_guard lock(folders_mutex_);
      if (hidden_[i]) continue;
    }
    const auto reading = read(i, Need::overview);
    json entry{{"index", i}, {"folder", shown_path(folder(i))}};
    if (reading->overview)
      entry["overview"] = reading->overview->to_json();
    else
      entry["error"] = reading->error;
    list.push_back(std::move(entry));
  }
  json answer{{"entries", !entries_.key.empty()}, {"campaigns", list}};
  {
    std::lock_guard lock(folders_mutex_);
    if (not_shown_ > 0) answer["not_shown"] = not_shown_, answer["most_shown"] = kMostCampaigns;
  }
  return json_response(answer);
}

ConsoleResponse ConsoleSite::experiments(std::size_t index) const {
  const auto reading = read(index, Need::whole);
  if (!reading->view) return error_response(reading->error_status, reading->error);
  const CampaignRecord& record = reading->view->record;
  json outputs = json::array();
  for (std::size_t i = 0; i < record.output_names.size(); ++i) outputs.push_back({{"name", record.output_names[i]}, {"unit", record.output_units[i]}});
  json parameters = json::array();
  for (std::size_t i = 0; i < record.parameter_names.size(); ++i)
    parameters.push_back({{"name", record.parameter_names[i]}, {"unit", i < record.parameter_units.size() ? record.parameter_units[i] : ""}});
  // The last kMostExperimentsShown, fewer for a wide campaign: at most kMostValuesShown values,
  // and one experiment at least.
  const std::size_t values_each = record.parameter_names.size() + record.output_names.size() + 1;
  const std::size_t fit = std::max<std::size_t>(1, kMostValuesShown / values_each);
  const std::size_t shown = std::min({record.experiments.size(), kMostExperimentsShown, fit});
  const std::size_t omitted = record.experiments.size() - shown;
  json experiments = json::array();
  for (std::size_t i = omitted; i < record.experiments.size(); ++i) experiments.push_back(experiment_json(record.experiments[i]));
  return json_response({{"index", index},
                        {"folder", shown_path(folder(index))},
                        {"campaign", record.campaign},
                        {"parameters", parameters},
                        {"objective", {{"name", record.objective_name}, {"unit", record.objective_unit}}},
                        {"goal", record.maximize ? "maximize" : "minimize"},
                        {"outputs", outputs},
                        {"experiments", experiments},
                        {"omitted", omitted},
                        {"most_experiments", kMostExperimentsShown},
                        {"most_values", kMostValuesShown},
                        {"version", reading->version}});
}

ConsoleResponse ConsoleSite::convergence(std::size_t index) const {
  const auto reading = read(index, Need::whole);
  if (!reading->view) return error_response(reading->error_status, reading->error);
  return {200, "image/svg+xml", convergence_svg(reading->view->record)};
}

ConsoleResponse ConsoleSite::pareto(std::size_t index) const {
  const auto reading = read(index, Need::whole);
  if (!reading->view) return error_response(reading->error_status, reading->error);
  if (reading->view->record.objectives.size() < 2) return error_response(404, "this campaign has one objective: its plot is convergence.svg");
  return {200, "image/svg+xml", pareto_svg(reading->view->record)};
}

ConsoleResponse ConsoleSite::pending(std::size_t index) const {
  const auto reading = read(index, Need::whole);
  if (!reading->view) return error_response(reading->error_status, reading->error);
  const CampaignConfig& config = reading->view->config;
  const std::vector<std::string> required = config.required_outputs();
  json outputs = json::array();
  for (const std::string& name : manual_outputs(config)) {
    json o{{"name", name}, {"required", std::find(required.begin(), required.end(), name) != required.end()}};
    const OutputSpec* spec = config.find_output(name);
    o["unit"] = spec ? spec->unit : "";
    if (spec && spec->low) o["low"] = *spec->low;
    if (spec && spec->high) o["high"] = *spec->high;
    outputs.push_back(std::move(o));
  }
  // The inbox is read at every request (an entry lands there without the journal moving); the
  // journal's reading is the cached one.
  json waiting = json::array();
  for (const PendingExperiment& p : pending_experiments(campaign_folder_of(folder(index)), config, reading->view->state)) {
    json w{{"experiment", p.experiment->id}, {"instrument", p.instrument}, {"since", p.experiment->dispatched_at}, {"params", p.experiment->params}};
    if (p.entered) w["entered"] = {{"by", p.entered->by}, {"at", p.entered->at}};
    if (!p.unreadable.empty()) w["unreadable"] = p.unreadable;
    waiting.push_back(std::move(w));
  }
  return json_response({{"index", index},
                        {"campaign", reading->view->overview.campaign},
                        {"running", reading->running},
                        {"entries", !entries_.key.empty()},
                        {"outputs", outputs},
                        {"pending", waiting}});
}

std::optional<ConsoleResponse> ConsoleSite::refuse_action(const ConsoleRequest& request) const {
  if (entries_.key.empty())
    return error_response(403, "this console was started --read-only: it only shows (labloop enter and Ctrl-C in the campaign's terminal act)");
  if (request.key.empty())
    return error_response(401, "acting here needs this console's key: open the address labloop console printed when it started (it ends in #key=…)");
  if (!same_key(request.key, entries_.key))
    return error_response(403, "that is not this console's key (it changes each time the console starts): open the address it printed");
  const std::string media = request.content_type.substr(0, request.content_type.find(';'));
  if (media != "application/json") return error_response(415, "send it as application/json");
  return std::nullopt;
}

ConsoleResponse ConsoleSite::stop(std::size_t index, const ConsoleRequest& request) const {
  if (auto refused = refuse_action(request)) return *refused;
  StopRequest ask;
  ask.source = "console";
  try {
    if (find_excess_nesting(request.body, 1)) throw Error("the request nests deeper than one object");
    std::optional<std::string> repeated;
    json j;
    try {
      j = request.body.empty() ? json::object() : parse_json_noting_repeats(request.body, false, repeated);
    } catch (const json::exception&) {
      throw Error("the request is not JSON");
    }
    if (repeated) throw Error(fmt::format("{} is given twice", *repeated));
    if (!j.is_object()) throw Error("the request must be a JSON object: {\"by\": \"name\", \"reason\": \"why\"}");
    for (const auto& [key, value] : j.items()) {
      if (key != "by" && key != "reason") throw Error(fmt::format("the request has \"{}\"; it takes by and reason", key));
      if (!value.is_string()) throw Error(fmt::format("\"{}\" must be a string", key));
      // What is kept: trimmed, as an entry's name and reason are ("  Ana" is Ana).
      const std::string text = trimmed(value.get_ref<const std::string&>());
      if (text.size() > kMaxStopRequestText)
        throw Error(fmt::format("\"{}\" is {} bytes long; at most {} are kept", key, text.size(), kMaxStopRequestText));
      // It goes to the journal and to terminals (status, the campaign's log): text only.
      if (const std::string problem = plain_text_problem(text); !problem.empty())
        throw Error(fmt::format("\"{}\" {}; write it as plain text on one line", key, problem));
      if (key == "by" && is_blank(text))
        throw Error(kBlankBy);
    }
    ask.by = trimmed(j.value("by", ""));
    ask.reason = trimmed(j.value("reason", ""));
  } catch (const Error& bad) {
    return error_response(400, bad.what());
  }
  if (ask.by.empty()) ask.by = entries_.operator_name;
  ask.at = utc_now_iso();
  const fs::path where = folder(index);
  // Read as the journal is now (a stop it took is news), but the viewers' requests queued before it
  // no longer each read it again (read() serves them a running campaign's recent reading): behind
  // them, a stop took 17 to 42 s and thousands of experiments more (a red-team report).
  const auto reading = read(index, Need::overview_now);
  if (!reading->running)
    return error_response(409, "the campaign is not running: there is nothing to stop (labloop resume continues it)");
  // Stopping already (a request it took, this run): nothing more to ask.
  if (reading->overview && reading->overview->stop_request) {
    const StopRequestedEvent& taken = *reading->overview->stop_request;
    return json_response({{"asked", false}, {"message", fmt::format("the campaign is stopping already, as {} asked", taken.by.empty() ? "someone" : taken.by)}});
  }
  try {
    switch (write_stop_request(campaign_folder_of(where), ask)) {
      case StopRequestWritten::written: break;
      case StopRequestWritten::already_asked: {
        const std::optional<StopRequest> earlier = read_stop_request(campaign_folder_of(where));
        return json_response({{"asked", false},
                              {"message", fmt::format("already asked by {}; the campaign stops at its next step", earlier ? earlier->by : "someone")}});
      }
      case StopRequestWritten::closed:
        // Running when read above, finished since: its last look for a request has been taken.
        return error_response(409, "the campaign finished before the request was read: there is nothing to stop (labloop resume continues it)");
    }
  } catch (const Error& error) {
    return error_response(500, error.what());
  }
  return json_response({{"asked", true},
                        {"by", ask.by},
                        {"at", ask.at},
                        {"message", "asked: the campaign stops proposing at its next step; running experiments get its stop grace period, "
                                    "experiments waiting for a person stay open (labloop resume continues it)"}});
}

ConsoleResponse ConsoleSite::enter(std::size_t index, const ConsoleRequest& request) const {
  if (auto refused = refuse_action(request)) return *refused;
  FormEntry form;
  try {
    form = entry_from_request(request.body);
  } catch (const Error& bad) {
    return error_response(400, bad.what());
  }
  ManualEntry& e = form.entry;
  const auto refused = [&](const std::string& why) { return error_response(422, fmt::format("refused {}: {}", e.experiment, why)); };
  // Which experiment is meant is what is in doubt: named by the last copy, it read as that one's.
  if (form.repeated == "/experiment") return error_response(422, "refused: \"experiment\" is given twice; name one experiment per entry");
  if (form.repeated) return refused(fmt::format("{} is given twice", *form.repeated));
  try {
    parse_assignments(form.words, e);
  } catch (const Error& bad) {
    return refused(bad.what());  // a value that is no number, or a name given twice, as `enter` refuses it
  }
  if (e.values.empty() && !e.failed) return refused("give the measured values, or why it failed");
  if (e.by.empty()) e.by = entries_.operator_name;
  e.at = utc_now_iso();
  // Checked against the journal as it is now (read() reads it again once it has moved); the entry
  // file's exclusive creation settles two people entering the same experiment at once.
  const auto reading = read(index, Need::whole_now);
  if (!reading->view) return error_response(reading->error_status, reading->error);
  // In the page's words (your name, why it failed, an output's box), not the command line's.
  if (std::string why = check_entry(reading->view->config, reading->view->state, e, EntryWording::console); !why.empty()) return refused(why);
  try {
    write_entry(campaign_folder_of(folder(index)), e);
  } catch (const Error& error) {
    // Something under its name (someone else's entry, saved first; a link in the way): refused,
    // saying what. Otherwise the disk or the folder failed the write (full, read-only): the
    // server's failure, not the person's.
    std::error_code ec;
    if (fs::symlink_status(entry_path(campaign_folder_of(folder(index)), e.experiment), ec).type() != fs::file_type::not_found && !ec)
      return refused(error.what());
    return error_response(500, fmt::format("not saved: {}", error.what()));
  }
  json answer{{"entered", e.experiment}, {"by", e.by}, {"at", e.at},
              {"message", reading->running ? "the running campaign records it within a second"
                                           : "the campaign is not running: it records the result when it resumes (labloop resume)"}};
  if (e.failed) answer["failed"] = *e.failed;
  else answer["values"] = e.values;
  return json_response(answer);
}

CLI::App* add_console_command(CLI::App& app, ConsoleCommand& command) {
  auto* cmd = app.add_subcommand("console",
                                 "Show campaigns in the browser, live: labloop console runs/a runs/b, then open http://127.0.0.1:8765/ (docs/console.md)");
  cmd->add_option("folders", command.folders, "Campaign output folders to show, or folders holding them (runs/): at most 64 campaigns")->required();
  cmd->add_flag("--read-only", command.read_only, "Only show: the page takes no results (a screen on the wall)");
  cmd->add_option("--listen", command.listen, "Where to serve: 127.0.0.1:PORT, localhost:PORT or [::1]:PORT (default 127.0.0.1:8765; port 0 picks a free one)");
  return cmd;
}

int run_console(const ConsoleCommand& command, const SimulatorCatalogue& simulators) {
  const char* const source = "labloop console";
  // This machine only: the console has no accounts or encryption of its own, so it is reached
  // from elsewhere through an SSH tunnel (docs/console.md), never by listening on the network.
  std::string host, port_text;
  if (!command.listen.empty() && command.listen.front() == '[') {
    const auto close = command.listen.find("]:");
    if (close == std::string::npos) throw ConfigError(source, "--listen", "write [::1]:PORT");
    host = command.listen.substr(1, close - 1);
    port_text = command.listen.substr(close + 2);
  } else {
    const auto colon = command.listen.rfind(':');
    if (colon == std::string::npos) throw ConfigError(source, "--listen", "write HOST:PORT, e.g. 127.0.0.1:8765");
    host = command.listen.substr(0, colon);
    port_text = command.listen.substr(colon + 1);
  }
  int port = -1;
  if (const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
      ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535 || (port_text.size() > 1 && port_text.front() == '0'))
    throw ConfigError(source, "--listen", fmt::format("\"{}\" is not a port from 0 to 65535", port_text));
  if (host != "127.0.0.1" && host != "localhost" && host != "::1")
    throw ConfigError(source, "--listen",
                      fmt::format("\"{}\" is not this machine: the console listens on 127.0.0.1, localhost or ::1 only; to see it from another "
                                  "computer, tunnel it: ssh -L 8765:127.0.0.1:8765 THIS_HOST (docs/console.md)",
                                  host));
  // "localhost" is bound and printed as 127.0.0.1: a browser given "localhost" tries ::1 first,
  // where another account on this machine could listen on the same port and take the key.
  if (host == "localhost") host = "127.0.0.1";
  std::vector<fs::path> folders(command.folders.begin(), command.folders.end());
  ConsoleEntries entries;
  if (!command.read_only) entries = {new_console_key(), os_user_name()};
  const ConsoleSite site(std::move(folders), simulators, entries);

  BoundedHttpServer server{RequestLimits{}};
  // httplib's default is SO_REUSEPORT, with which a second console (or anything else) could bind
  // the same port and take half the requests: SO_REUSEADDR alone lets a restart reuse it at once.
  // Called for the listening socket only (the last one it is called for is the one bound).
  socket_t listening = -1;
  server.set_socket_options([&listening](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listening = sock;
  });
  server.set_payload_max_length(64 * 1024);  // an entered result is a few hundred bytes
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_keep_alive_timeout(2);  // a page polls every two seconds; an idle connection holds a thread
  // A thread for each connection being served, up to kMostServingThreads (serving_pool.hpp):
  // connections held open without a request (or trickling one) wait on their own threads instead
  // of ahead of everyone else's.
  server.new_task_queue = [] { return new ServingQueue(); };
  // Refused before any work (refuse_before_routing): headers the server reads and nothing more.
  const auto head_of = [](const httplib::Request& request) {
    ConsoleRequestHead head{request.method,
                            true,
                            request.headers.size(),
                            request.get_header_value_count("Host"),
                            request.get_header_value_count("Content-Length"),
                            request.has_header("Range"),
                            request.has_header("Transfer-Encoding"),
                            ""};
    // Header names are matched without regard to case (httplib's headers are), so "origin" and
    // "Origin" are two copies of one header.
    for (const char* name : kJudgedHeaders)
      if (head.repeated.empty() && request.get_header_value_count(name) > 1) head.repeated = name;
    return head;
  };
  const auto answer = [](const httplib::Request& request, httplib::Response& response, const ConsoleResponse& r) {
    // httplib cuts every answer to the Range asked, its refusal too (a 416 of `{"`): the console
    // serves no ranges, so none is applied. The Request is httplib's own, not const.
    const_cast<httplib::Request&>(request).ranges.clear();
    response.status = r.status;
    if (r.status == 405) response.set_header("Allow", "GET, HEAD, POST");
    response.set_content(r.body, r.content_type.c_str());
  };
  server.set_pre_routing_handler([head_of, answer](const httplib::Request& request, httplib::Response& response) {
    const std::optional<ConsoleResponse> refused = refuse_before_routing(head_of(request));
    if (!refused) return httplib::Server::HandlerResponse::Unhandled;
    answer(request, response, *refused);
    return httplib::Server::HandlerResponse::Handled;
  });
  // A request line of a method httplib does not know (FOO) is refused by it as 400 before its
  // headers are read or any handler runs but this one: 405, as for the methods it knows. A Range
  // it cannot parse it refuses as 416 before routing: the console's JSON error, as for any Range.
  server.set_error_handler(httplib::Server::HandlerWithResponse([answer](const httplib::Request& request, httplib::Response& response) {
    static const std::vector<std::string> known{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"};
    const bool a_method = !request.method.empty() &&
                          std::all_of(request.method.begin(), request.method.end(), [](unsigned char c) { return std::isupper(c) || c == '-' || c == '_'; });
    if (response.status == 416 && response.body.empty()) {  // a Range it could not parse: refused as any Range
      ConsoleRequestHead head;
      head.range = true;
      head.method = "GET";
      answer(request, response, *refuse_before_routing(head));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (response.status != 400 || !response.body.empty() || !a_method || (request.version != "HTTP/1.1" && request.version != "HTTP/1.0") ||
        std::find(known.begin(), known.end(), request.method) != known.end())
      return httplib::Server::HandlerResponse::Unhandled;
    ConsoleRequestHead head;
    head.method = request.method;
    head.method_known = false;
    answer(request, response, *refuse_before_routing(head));
    return httplib::Server::HandlerResponse::Handled;
  }));
  const auto handle = [&site](const httplib::Request& request, httplib::Response& response) {
    const ConsoleResponse r = site.respond(ConsoleRequest{request.method, request.target, request.get_header_value("Host"),
                                                          request.get_header_value("Origin"), request.get_header_value("Sec-Fetch-Site"),
                                                          request.get_header_value("X-Labloop-Key"), request.get_header_value("Content-Type"),
                                                          request.body});
    response.status = r.status;
    // What the page may do: its own script and style, and ask this console; nothing else.
    response.set_header("Content-Security-Policy",
                        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; "
                        "form-action 'none'; frame-ancestors 'none'");
    response.set_header("X-Content-Type-Options", "nosniff");
    response.set_header("Referrer-Policy", "no-referrer");
    response.set_header("Cache-Control", "no-store");
    response.set_header("Accept-Ranges", "none");  // httplib says "bytes" to a HEAD otherwise; none are served
    response.set_content(r.body, r.content_type.c_str());
  };
  // Every method reaches the site, which refuses all but GET and HEAD (httplib answers HEAD with
  // the GET handler) with a message rather than httplib's bare 404.
  server.Get(".*", handle);
  server.Post(".*", handle);
  server.Put(".*", handle);
  server.Patch(".*", handle);
  server.Delete(".*", handle);
  server.Options(".*", handle);

  // SIGINT, SIGTERM and SIGHUP are taken by this thread (sigwait) and by no server thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // the terminal it ran in closed
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    std::cerr << fmt::format("labloop console: cannot listen on {} (is another program using that port? --listen 127.0.0.1:0 picks a free one)\n",
                             command.listen);
    return 1;
  }
  // httplib listens with a backlog of 5: a burst of connections past that (several pages opening,
  // or a program flooding the port) had connecting browsers wait a second for each SYN the kernel
  // dropped. Listening again on the bound socket raises it (Linux keeps the socket, changes the
  // backlog).
  if (listening >= 0) ::listen(listening, SOMAXCONN);
  std::thread serving([&server] { server.listen_after_bind(); });
  const std::string address = fmt::format("http://{}:{}/", host == "::1" ? "[::1]" : host, bound);
  const std::size_t found = site.campaign_count();
  fmt::print("labloop console: {} shows {} campaign{} (Ctrl-C stops it)\n", address, found, found == 1 ? "" : "s");
  if (!entries.key.empty())
    fmt::print("To enter results for manual instruments there, open {}#key={}\n(anyone with this address can enter results and stop "
               "campaigns; it changes each time the console starts; --read-only makes none)\n",
               address, entries.key);
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server.stop();
  serving.join();
  pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
  return 0;
}

}  // namespace labloop::cli
