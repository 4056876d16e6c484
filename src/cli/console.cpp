#include "console.hpp"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <thread>

#include "console_assets.hpp"  // generated from src/cli/console/: the page, its script and style
#include "labloop/core/error.hpp"
#include "labloop/campaign/manual_entry.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/journal/report.hpp"

namespace labloop::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char* const kJson = "application/json";
constexpr std::size_t kServingThreads = 32;
constexpr std::size_t kMostHeaders = 100;

ConsoleResponse error_response(int status, const std::string& why) {
  return {status, kJson, json{{"error", why}}.dump(-1, ' ', false, json::error_handler_t::replace)};
}

ConsoleResponse json_response(const json& body) { return {200, kJson, body.dump(-1, ' ', false, json::error_handler_t::replace)}; }

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

// The journal's size and modification time: a campaign is read again only once they change.
std::pair<std::uintmax_t, fs::file_time_type> journal_stamp(const fs::path& folder) {
  std::error_code ec;
  const fs::path journal = journal_path_of(folder);
  const auto size = fs::file_size(journal, ec);
  if (ec) return {0, {}};
  return {size, fs::last_write_time(journal, ec)};
}

}  // namespace

struct ConsoleSite::Reading {
  std::pair<std::uintmax_t, fs::file_time_type> stamp;
  bool running = false;
  std::optional<CampaignView> view;
  std::string error;  // when the folder could not be read as a campaign
};

ConsoleSite::ConsoleSite(std::vector<fs::path> folders, const SimulatorCatalogue& simulators)
    : folders_(std::move(folders)), simulators_(simulators) {
  if (folders_.size() > kMostCampaigns)
    throw ConfigError("labloop console", "folders", fmt::format("{} given; the console shows at most {}", folders_.size(), kMostCampaigns));
  reading_ = std::make_unique<std::mutex[]>(folders_.size());
}

std::shared_ptr<const ConsoleSite::Reading> ConsoleSite::read(std::size_t index) const {
  const fs::path& folder = folders_[index];
  std::lock_guard one_at_a_time(reading_[index]);
  // Read again only when the journal's size or time has changed, or whether a labloop process
  // holds it (which the journal's bytes do not say: a kill -9 leaves them as they were). A
  // finished campaign is read once.
  const auto stamp = journal_stamp(folder);
  const bool running = campaign_running(journal_path_of(folder));
  {
    std::lock_guard lock(mutex_);
    const auto it = readings_.find(index);
    if (it != readings_.end() && it->second->stamp == stamp && it->second->running == running) return it->second;
  }
  auto reading = std::make_shared<Reading>();
  reading->stamp = stamp;
  reading->running = running;
  try {
    reading->view = campaign_view(folder, simulators_);
  } catch (const std::exception& e) {
    reading->error = e.what();
  }
  std::lock_guard lock(mutex_);
  readings_[index] = reading;
  return reading;
}

ConsoleResponse ConsoleSite::respond(const ConsoleRequest& request) const {
  if (!host_is_this_machine(request.host)) return error_response(403, "the console answers requests addressed to this machine (localhost) only");
  // Its own page sends no Origin on a GET (or its own) and Sec-Fetch-Site same-origin; a typed
  // address or a bookmark is "none". Another page's requests are refused before any work.
  if (!request.fetch_site.empty() && request.fetch_site != "same-origin" && request.fetch_site != "none")
    return error_response(403, "the console answers its own page only, not requests from other web pages");
  if (!request.origin.empty() && request.origin != "http://" + request.host)
    return error_response(403, "the console answers its own page only, not requests from other web pages");
  if (request.method != "GET" && request.method != "HEAD") return error_response(405, "the console only shows: GET");
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (path == "/" || path == "/index.html") return {200, "text/html; charset=utf-8", std::string(console_assets::kPage)};
  if (path == "/console.js") return {200, "text/javascript; charset=utf-8", std::string(console_assets::kScript)};
  if (path == "/console.css") return {200, "text/css; charset=utf-8", std::string(console_assets::kStyle)};
  if (path == "/favicon.ico") return {204, "image/x-icon", ""};  // none: the browser asks anyway
  if (path == "/api/campaigns") return campaigns();
  const std::string prefix = "/api/campaigns/";
  if (path.rfind(prefix, 0) == 0) {
    const std::string rest = path.substr(prefix.size());
    const auto slash = rest.find('/');
    const std::optional<std::size_t> index = slash == std::string::npos ? std::nullopt : campaign_number(rest.substr(0, slash));
    if (index && *index >= folders_.size()) return error_response(404, fmt::format("no campaign {}: there are {}", *index, folders_.size()));
    if (index && rest.substr(slash) == "/experiments") return experiments(*index);
    if (index && rest.substr(slash) == "/convergence.svg") return convergence(*index);
  }
  return error_response(404, "no such page");
}

ConsoleResponse ConsoleSite::campaigns() const {
  json list = json::array();
  for (std::size_t i = 0; i < folders_.size(); ++i) {
    const auto reading = read(i);
    json entry{{"index", i}, {"folder", folders_[i].string()}};
    if (reading->view)
      entry["overview"] = reading->view->overview.to_json();
    else
      entry["error"] = reading->error;
    list.push_back(std::move(entry));
  }
  return json_response({{"campaigns", list}});
}

ConsoleResponse ConsoleSite::experiments(std::size_t index) const {
  const auto reading = read(index);
  if (!reading->view) return error_response(404, reading->error);
  const CampaignRecord& record = reading->view->record;
  json outputs = json::array();
  for (std::size_t i = 0; i < record.output_names.size(); ++i) outputs.push_back({{"name", record.output_names[i]}, {"unit", record.output_units[i]}});
  json parameters = json::array();
  for (std::size_t i = 0; i < record.parameter_names.size(); ++i)
    parameters.push_back({{"name", record.parameter_names[i]}, {"unit", i < record.parameter_units.size() ? record.parameter_units[i] : ""}});
  const std::size_t shown = std::min(record.experiments.size(), kMostExperimentsShown);
  const std::size_t omitted = record.experiments.size() - shown;
  json experiments = json::array();
  for (std::size_t i = omitted; i < record.experiments.size(); ++i) experiments.push_back(experiment_json(record.experiments[i]));
  return json_response({{"index", index},
                        {"folder", folders_[index].string()},
                        {"campaign", record.campaign},
                        {"parameters", parameters},
                        {"objective", {{"name", record.objective_name}, {"unit", record.objective_unit}}},
                        {"goal", record.maximize ? "maximize" : "minimize"},
                        {"outputs", outputs},
                        {"experiments", experiments},
                        {"omitted", omitted}});
}

ConsoleResponse ConsoleSite::convergence(std::size_t index) const {
  const auto reading = read(index);
  if (!reading->view) return error_response(404, reading->error);
  return {200, "image/svg+xml", convergence_svg(reading->view->record)};
}

CLI::App* add_console_command(CLI::App& app, ConsoleCommand& command) {
  auto* cmd = app.add_subcommand("console",
                                 "Show campaigns in the browser, live: labloop console runs/a runs/b, then open http://127.0.0.1:8765/ (docs/console.md)");
  cmd->add_option("folders", command.folders, "Campaign output folders to show (at most 64)")->required();
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
  std::vector<fs::path> folders(command.folders.begin(), command.folders.end());
  const ConsoleSite site(std::move(folders), simulators);

  httplib::Server server;
  // httplib's default is SO_REUSEPORT, with which a second console (or anything else) could bind
  // the same port and take half the requests: SO_REUSEADDR alone lets a restart reuse it at once.
  server.set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server.set_payload_max_length(64 * 1024);  // it takes no uploads: GET only
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_keep_alive_timeout(2);  // a page polls every two seconds; an idle connection holds a thread
  // More threads than httplib's 8, so a few pages left open (or slow clients) do not hold them all.
  server.new_task_queue = [] { return new httplib::ThreadPool(kServingThreads); };
  // Refused before any work: ranges (httplib would send the body once per range asked, so a short
  // header could ask for gigabytes; the console's answers are small) and requests of more headers
  // than any browser sends.
  server.set_pre_routing_handler([](const httplib::Request& request, httplib::Response& response) {
    const char* why = request.has_header("Range") ? "the console does not serve ranges"
                      : request.headers.size() > kMostHeaders ? "too many headers"
                                                              : nullptr;
    if (!why) return httplib::Server::HandlerResponse::Unhandled;
    response.status = request.has_header("Range") ? 416 : 431;
    response.set_content(json{{"error", why}}.dump(), kJson);
    return httplib::Server::HandlerResponse::Handled;
  });
  const auto handle = [&site](const httplib::Request& request, httplib::Response& response) {
    const ConsoleResponse r = site.respond(ConsoleRequest{request.method, request.target, request.get_header_value("Host"),
                                                          request.get_header_value("Origin"), request.get_header_value("Sec-Fetch-Site")});
    response.status = r.status;
    // What the page may do: its own script and style, and ask this console; nothing else.
    response.set_header("Content-Security-Policy",
                        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; "
                        "form-action 'none'; frame-ancestors 'none'");
    response.set_header("X-Content-Type-Options", "nosniff");
    response.set_header("Referrer-Policy", "no-referrer");
    response.set_header("Cache-Control", "no-store");
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
  std::thread serving([&server] { server.listen_after_bind(); });
  fmt::print("labloop console: http://{}:{}/ shows {} campaign folder{} (Ctrl-C stops it)\n", host == "::1" ? "[::1]" : host, bound,
             command.folders.size(), command.folders.size() == 1 ? "" : "s");
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server.stop();
  serving.join();
  pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
  return 0;
}

}  // namespace labloop::cli
