#include "scpi_driver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <cctype>
#include <cerrno>
#include <iostream>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/utc_time.hpp"

namespace labloop::scpi {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxSteps = 1000;             // per list in the config
constexpr std::size_t kMaxCommandChars = 4096;      // one command as written
constexpr int kMaxErrorsRead = 32;                  // error-queue entries read after one step
constexpr int kMaxErrorsCleared = 1000;             // … and left from before a connection, set aside
constexpr std::size_t kMaxTranscriptReplyChars = 4096;
constexpr double kMinIoTimeoutS = 0.01;
constexpr double kMaxIoTimeoutS = 3600;
constexpr double kMinPollEveryS = 0.01;
// SCPI's "not a number" and overrange: 9.91E37 and ±9.9E37 (IEEE 488.2 §7.7, SCPI-99 §7.2.1.5).
constexpr double kScpiOverrange = 9.9e37;
// How long a line nobody asked for is listened for after an experiment's last value is read.
constexpr std::chrono::milliseconds kStraySettle{100};

std::string trimmed(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r\n") + 1 - begin);
}

// A whole reply as a number in SCPI's syntax (<NR1>, <NR2>, <NR3>: "+1.2345E-03", "42", ".5"),
// within what a double holds; none for anything else ("0x10", "inf", "1e999", "1,5").
std::optional<double> number_in(const std::string& text) {
  const std::string t = trimmed(text);
  if (t.empty() || t.size() > 64) return std::nullopt;
  std::size_t i = (t[0] == '+' || t[0] == '-') ? 1 : 0;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    return i - from;
  };
  std::size_t mantissa = digits();
  if (i < t.size() && t[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0) return std::nullopt;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (digits() == 0) return std::nullopt;
  }
  if (i != t.size()) return std::nullopt;
  errno = 0;
  const double v = std::strtod(t.c_str(), nullptr);
  if (errno == ERANGE || !std::isfinite(v)) return std::nullopt;  // past a double's range, or below its smallest
  return v;
}

// An instrument's bytes as text for a message or the transcript: control bytes (a NUL would cut
// a message short) written as \xNN.
std::string printable(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    else
      out += c;
  }
  return out;
}

// Why an experiment whose replies came out of step fails. A line with text is shown trimmed, as its text is what tells whose answer it is; one of line
// endings alone is shown as it came, named ("\n"), being the mark of an instrument that ends its
// replies with more than "read_termination" says (trimmed, it read as an empty line: no clue).
std::string out_of_step(const std::string& line, const std::string& where) {
  const bool endings_only = !line.empty() && line.find_first_not_of("\r\n \t") == std::string::npos;
  const std::string shown = endings_only ? named_line_endings(ready::shortened(line, 200)) : ready::shortened(trimmed(line), 200);
  return fmt::format("the instrument sent {} no query was waiting for (\"{}\") {}: its replies are out of step, so the values read may "
                     "be other queries' answers ({})",
                     endings_only ? "line-ending characters" : "a line", printable(shown), where,
                     endings_only ? "does it end its replies with \"\\r\\n\"? then set \"read_termination\" to \"\\n\", which also takes "
                                    "the \"\\r\" before it"
                                  : "does it send status lines unasked, or answer a command that is no query?");
}

// The `index`th comma-separated field of a reply (0 = the first), or none.
std::optional<std::string> field_of(const std::string& reply, int index) {
  std::size_t begin = 0;
  for (int i = 0; i < index; ++i) {
    const auto comma = reply.find(',', begin);
    if (comma == std::string::npos) return std::nullopt;
    begin = comma + 1;
  }
  const auto end = reply.find(',', begin);
  return reply.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

bool contains_ignoring_case(const std::string& text, const std::string& part) {
  return std::search(text.begin(), text.end(), part.begin(), part.end(),
                     [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); }) !=
         text.end();
}

int input_index(const InstrumentInfo& info, const std::string& name) {
  for (std::size_t i = 0; i < info.inputs.size(); ++i)
    if (info.inputs[i].name == name) return static_cast<int>(i);
  return -1;
}

// A template from the config: its slots name declared inputs, and no value can break the line.
CommandTemplate parse_template(const JsonNode& node, const InstrumentInfo& info, bool params_allowed) {
  CommandTemplate out;
  out.source = node.as_string();
  const std::string& s = out.source;
  if (s.size() > kMaxCommandChars) node.fail(fmt::format("is {} characters; a command is at most {}", s.size(), kMaxCommandChars));
  if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    node.fail("holds a line break or another control character: write one command per entry (several on one line are joined with ';')");
  std::string text;
  char quote = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quote == 0 && (c == '"' || c == '\'')) quote = c;
    else if (c == quote) quote = 0;
    if (quote == 0 && c == '?') out.query = true;
    if (c == '{' && i + 1 < s.size() && s[i + 1] == '{') {
      text += '{';
      ++i;
    } else if (c == '}' && i + 1 < s.size() && s[i + 1] == '}') {
      text += '}';
      ++i;
    } else if (c == '{') {
      const auto close = s.find('}', i);
      if (close == std::string::npos) node.fail("has a '{' without its '}': name an input as {name}, or write {{ for a brace");
      const std::string name = s.substr(i + 1, close - i - 1);
      if (!params_allowed) node.fail(fmt::format("names {{{}}}, but no experiment's params are known here (setup runs on connecting)", name));
      const int index = input_index(info, name);
      if (index < 0) node.fail(fmt::format("names {{{}}}, which is not one of the declared inputs", name));
      if (!text.empty()) out.pieces.push_back({std::move(text), -1});
      text.clear();
      out.pieces.push_back({"", index});
      i = close;
    } else if (c == '}') {
      node.fail("has a '}' without its '{': write }} for a brace");
    } else {
      text += c;
    }
  }
  if (quote != 0) node.fail("has a quote that is not closed");
  if (!text.empty()) out.pieces.push_back({std::move(text), -1});
  return out;
}

std::vector<Step> read_steps(const JsonNode& root, const std::string& field, const InstrumentInfo& info, bool params_allowed) {
  std::vector<Step> steps;
  if (!root.has(field)) return steps;
  const JsonNode list = root.child(field);
  const json& items = list.as_array(/*allow_empty=*/true);
  if (items.size() > kMaxSteps) list.fail(fmt::format("has {} steps; at most {}", items.size(), kMaxSteps));
  for (std::size_t i = 0; i < items.size(); ++i) {
    const JsonNode item = list.at(i);
    Step step;
    if (item.value().is_string()) {
      step.command = parse_template(item, info, params_allowed);
    } else if (item.value().is_object() && item.has("wait_s")) {
      item.expect_object({"wait_s"});
      step.kind = Step::Kind::wait;
      step.seconds = item.child("wait_s").as_number();
      if (!(step.seconds >= 0 && step.seconds <= 365.0 * 24 * 3600)) item.child("wait_s").fail("must be seconds from 0 to a year");
    } else if (item.value().is_object() && item.has("poll")) {
      item.expect_object({"poll", "until", "every_s"});
      step.kind = Step::Kind::poll;
      step.command = parse_template(item.child("poll"), info, params_allowed);
      if (!step.command.query) item.child("poll").fail("is not a query (no '?'): polling asks until the reply is `until`");
      step.until = trimmed(item.child("until").as_string());
      step.seconds = item.has("every_s") ? item.child("every_s").as_number() : 1.0;
      if (!(step.seconds >= kMinPollEveryS && step.seconds <= 3600)) item.child("every_s").fail(fmt::format("must be seconds from {:g} to 3600", kMinPollEveryS));
    } else {
      item.fail("must be a command (\"OUTP ON\"), {\"wait_s\": SECONDS} or {\"poll\": \"QUERY?\", \"until\": \"REPLY\", \"every_s\": SECONDS}");
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

// A step as messages name it: its command, or "wait_s 2.5".
std::string step_label(const Step& step) { return step.kind == Step::Kind::wait ? fmt::format("wait_s {:g}", step.seconds) : step.command.source; }

std::string clock_text() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return utc_text(std::chrono::system_clock::to_time_t(now), "%H:%M:%S") + fmt::format(".{:03d}", ms);
}

}  // namespace

// What went to the instrument and came back, one file per experiment (and one for connecting at
// start), so a technician can see exactly what the instrument was told.
class ScpiDriver::Transcript {
 public:
  explicit Transcript(const fs::path& file) : file_(file), out_(file, std::ios::app) { check(); }
  void sent(const std::string& line) { write("> " + line); }
  void received(const std::string& line) { write("< " + (line.size() > kMaxTranscriptReplyChars ? line.substr(0, kMaxTranscriptReplyChars) + "…" : line)); }
  void note(const std::string& line) { write("# " + line); }

 private:
  void write(const std::string& line) {
    if (!out_) return;
    out_ << clock_text() << ' ' << line << '\n' << std::flush;
    check();
  }
  // A transcript that cannot be written does not stop the experiment, but is said once.
  void check() {
    if (out_ || said_) return;
    said_ = true;
    std::cerr << "labloop-driver-scpi: cannot write the transcript " << file_.string() << " (is runs_dir still there and writable?)" << std::endl;
  }
  fs::path file_;
  std::ofstream out_;
  bool said_ = false;
};

ScpiConfig read_scpi_config(const fs::path& file) {
  ScpiConfig config;
  const std::vector<std::string> own{"address", "baud", "write_termination", "read_termination", "io_timeout_s", "identity", "setup",
                                     "run", "measure", "finish", "abort", "error_query", "runs_dir"};
  config.declared = ready::read_driver_config(file, "scpi", own, [&](const JsonNode& root, const ready::DeclaredInstrument& declared) {
    const fs::path& folder = declared.folder;
    const InstrumentInfo& info = declared.info;
    if (info.capacity != 1)
      root.child("capacity").fail("must be 1: an SCPI instrument takes one stream of commands, so it runs one experiment at a time");
    // Every value that can go into a command must keep it one command: no line breaks, no ';'
    // (which would start another), no quotes or braces (which would change what follows), no '?'
    // (which would make it a query whose reply nobody reads).
    for (std::size_t i = 0; i < info.inputs.size(); ++i)
      for (const std::string& choice : info.inputs[i].choices)
        if (std::any_of(choice.begin(), choice.end(), [](char c) {
              return static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ';' || c == '"' || c == '\'' || c == '{' || c == '}' || c == '?';
            }))
          root.child("inputs").at(i).fail(fmt::format("the choice \"{}\" holds a character that would change the SCPI command it goes into "
                                                      "(a control character, ';', a quote, a brace or '?')",
                                                      choice));
    config.address.address = root.child("address").as_string();
    if (!config.address.is_device()) {
      try {
        check_network_address(config.address.address);  // a typo is a message at start, not at the first connection
      } catch (const LinkError& e) {
        root.child("address").fail(e.what());
      }
    }
    if (root.has("baud")) {
      if (!config.address.is_device()) root.child("baud").fail("is for a serial port: the address is a network one");
      const long long baud = root.child("baud").as_integer();
      if (baud < 1 || baud > 921600 || !supported_baud(static_cast<int>(baud))) root.child("baud").fail("must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600");
      config.address.baud = static_cast<int>(baud);
    }
    if (root.has("write_termination")) {
      config.write_termination = root.child("write_termination").as_string();
      if (config.write_termination != "\n" && config.write_termination != "\r\n" && config.write_termination != "\r")
        root.child("write_termination").fail("must be \"\\n\" (the default), \"\\r\\n\" or \"\\r\"");
    }
    if (root.has("read_termination")) {
      const std::string t = root.child("read_termination").as_string();
      if (t != "\n" && t != "\r") root.child("read_termination").fail("must be \"\\n\" (the default) or \"\\r\"");
      config.read_termination = t.front();
    }
    if (root.has("io_timeout_s")) {
      config.io_timeout_s = root.child("io_timeout_s").as_number();
      if (!(config.io_timeout_s >= kMinIoTimeoutS && config.io_timeout_s <= kMaxIoTimeoutS))
        root.child("io_timeout_s").fail(fmt::format("must be seconds from {:g} to {:g}", kMinIoTimeoutS, kMaxIoTimeoutS));
    }
    if (root.has("identity")) config.identity = root.child("identity").as_string();
    config.setup = read_steps(root, "setup", info, /*params_allowed=*/false);
    config.run = read_steps(root, "run", info, true);
    config.finish = read_steps(root, "finish", info, true);
    config.abort = read_steps(root, "abort", info, true);
    // What comes back: one query per output, in the outputs' order.
    const JsonNode measure = root.child("measure");
    measure.expect_object(info.outputs);
    for (const std::string& output : info.outputs) {
      if (!measure.has(output)) measure.fail(fmt::format("has no query for the output \"{}\"", output));
      const JsonNode m = measure.child(output);
      Measurement measurement{output, {}, std::nullopt};
      if (m.value().is_object()) {
        m.expect_object({"query", "field"});
        measurement.query = parse_template(m.child("query"), info, true);
        if (m.has("field")) {
          const long long field = m.child("field").as_integer();
          if (field < 0 || field > 10000) m.child("field").fail("must be 0 (the first comma-separated value) to 10000");
          measurement.field = static_cast<int>(field);
        }
      } else {
        measurement.query = parse_template(m, info, true);
      }
      if (!measurement.query.query) m.fail("is not a query (no '?'): it must ask the instrument for the value");
      config.measure.push_back(std::move(measurement));
    }
    if (root.has("error_query")) {
      config.error_query = root.child("error_query").as_string(/*allow_empty=*/true);
      if (!config.error_query.empty() && !parse_template(root.child("error_query"), info, false).query)
        root.child("error_query").fail("is not a query (no '?'); write \"\" to not ask the instrument for its errors");
    }
    config.runs_dir = root.has("runs_dir") ? folder / root.child("runs_dir").as_string() : folder / (file.stem().string() + "-runs");
  });
  return config;
}

ScpiDriver::ScpiDriver(ScpiConfig config) : config_(std::move(config)) {
  for (const std::vector<Step>* steps : {&config_.run, &config_.finish, &config_.abort})
    for (const Step& step : *steps)
      if (step.kind != Step::Kind::wait) templates_.push_back(&step.command);
  for (const Measurement& m : config_.measure) templates_.push_back(&m.query);
  std::error_code ec;
  fs::create_directories(config_.runs_dir, ec);
  if (ec || !fs::is_directory(config_.runs_dir))
    throw Error(fmt::format("cannot make the runs folder {}: {}", config_.runs_dir.string(), ec ? ec.message() : "it is not a folder"));
}

ScpiDriver::~ScpiDriver() = default;

ScpiDriver::Clock::time_point ScpiDriver::io_deadline() const {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(config_.io_timeout_s));
}

std::string ScpiDriver::filled(const CommandTemplate& command, const Params& params) const {
  std::string out;
  for (const CommandTemplate::Piece& piece : command.pieces) {
    if (piece.input < 0) {
      out += piece.text;
      continue;
    }
    const Parameter& p = config_.declared.info.inputs[static_cast<std::size_t>(piece.input)];
    const auto value = params.find(p.name);
    if (value == params.end()) throw Error(fmt::format("no value for \"{}\" in the params", p.name));
    // serve() has checked every value against the declared limits; checked again here, where it
    // becomes a command, so nothing outside them reaches the instrument by any other path.
    if (p.type == ParameterType::categorical) {
      if (!value->is_string() || std::find(p.choices.begin(), p.choices.end(), value->get<std::string>()) == p.choices.end())
        throw Error(fmt::format("\"{}\" is not one of its choices; nothing was sent", p.name));
      out += value->get<std::string>();
      continue;
    }
    if (!value->is_number()) throw Error(fmt::format("\"{}\" is not a number; nothing was sent", p.name));
    const double v = value->get<double>();
    if (p.type == ParameterType::discrete) {
      const int level = p.level_index(v);
      if (level < 0) throw Error(fmt::format("\"{}\" = {} is not one of its levels; nothing was sent", p.name, v));
      const double declared = p.values[static_cast<std::size_t>(level)];
      out += fmt::format("{}", declared == 0 ? 0.0 : declared);  // the declared level itself (0, never -0)
    } else if (!(v >= p.low && v <= p.high)) {
      throw Error(fmt::format("\"{}\" = {} is outside [{}, {}]; nothing was sent", p.name, v, p.low, p.high));
    } else if (p.type == ParameterType::integer) {
      out += fmt::format("{}", std::llround(v));
    } else {
      // The shortest text that reads back as exactly this value; a -0.0 (a bound written "-0",
      // or a result of arithmetic) goes as 0: some instruments refuse a signed zero.
      out += fmt::format("{}", v == 0 ? 0.0 : v);
    }
  }
  return out;
}

void ScpiDriver::send(const std::string& command, Transcript& transcript, Clock::time_point deadline, std::stop_token stop) {
  transcript.sent(command);
  link_->write_line(command, deadline, stop);
}

std::string ScpiDriver::ask(const std::string& query, Transcript& transcript, Clock::time_point deadline, std::stop_token stop, bool quiet) {
  // A reply that came after its query was given up on must not answer this one. While values are
  // read, a line no query was waiting for means the replies are out of step (an instrument's
  // unasked status line, a doubled reply): the value read last may be another query's answer.
  if (const std::string stale = link_->discard_pending(); !stale.empty()) {
    if (measuring_ && !link_->owes_reply()) throw Error(out_of_step(stale, "before " + query));
    transcript.note("discarded a reply nobody waited for: " + printable(ready::shortened(stale, 200)));
  }
  if (!quiet) transcript.sent(query);
  link_->write_line(query, deadline, stop);
  std::string reply;
  try {
    reply = link_->read_line(deadline, stop);
  } catch (const LinkError& e) {
    throw LinkError(fmt::format("{}: {}", query, e.what()));
  }
  if (!quiet) transcript.received(printable(reply));
  return reply;
}

std::vector<std::string> ScpiDriver::pending_errors(Transcript& transcript, std::stop_token stop, int most) {
  std::vector<std::string> errors;
  if (config_.error_query.empty()) return errors;
  for (int i = 0; i < most; ++i) {
    const std::string reply = trimmed(ask(config_.error_query, transcript, io_deadline(), stop));
    // "CODE,\"text\"", code 0 when the queue is empty (SCPI-99 §21.8).
    char* end = nullptr;
    const long code = std::strtol(reply.c_str(), &end, 10);
    if (end == reply.c_str() || (*end != ',' && *end != '\0'))
      throw Error(fmt::format("the reply to {} is not CODE,\"TEXT\" but \"{}\": set \"error_query\" to the instrument's error query, or to \"\" not to ask",
                              config_.error_query, printable(ready::shortened(reply, 200))));
    if (code == 0) return errors;
    errors.push_back(printable(reply));
  }
  errors.push_back(fmt::format("(more than {} errors)", most));
  return errors;
}

void ScpiDriver::check_errors(Transcript& transcript, std::stop_token stop, const char* after) {
  const std::vector<std::string> errors = pending_errors(transcript, stop, kMaxErrorsRead);
  if (errors.empty()) return;
  std::string all;
  for (const std::string& e : errors) all += (all.empty() ? "" : "; ") + e;
  throw Error(ready::shortened(fmt::format("the instrument reported an error after {}: {}", after, all), 2000));
}

ScpiDriver::Clock::time_point ScpiDriver::deadline_outside_run(const Step& step) const {
  // A command's reply gets io_timeout_s; a wait is as long as it says (and io_timeout_s more);
  // a poll (until it has cooled down, say) gets an experiment's timeout_s.
  const auto seconds = [](double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
  switch (step.kind) {
    case Step::Kind::command: return io_deadline();
    case Step::Kind::wait: return io_deadline() + seconds(step.seconds);
    case Step::Kind::poll: break;
  }
  return Clock::now() + seconds(config_.declared.timeout_s);
}

void ScpiDriver::open_line(Transcript& transcript, std::stop_token stop, bool with_setup) {
  transcript.note("connecting to " + config_.address.address);
  link_ = std::make_unique<ScpiLink>(config_.address, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(config_.io_timeout_s)),
                                     config_.write_termination, config_.read_termination, stop);
  set_up_ = false;
  try {
    if (!config_.identity.empty()) {
      const std::string idn = ask("*IDN?", transcript, io_deadline(), stop);
      if (!contains_ignoring_case(idn, config_.identity))
        throw IdentityMismatch(fmt::format("the instrument at {} says it is \"{}\", which does not contain the config's identity \"{}\": is this the right "
                                           "instrument? Nothing more was sent to it",
                                           config_.address.address, printable(ready::shortened(idn, 200)), config_.identity));
    }
    if (!with_setup) return;
    // Errors left from before this connection are not this driver's: read and set aside.
    if (const auto old = pending_errors(transcript, stop, kMaxErrorsCleared); !old.empty())
      transcript.note(fmt::format("{} error(s) from before connecting, cleared", old.size()));
    for (const Step& step : config_.setup) {
      try {
        do_step(step, Params::object(), transcript, deadline_outside_run(step), stop);
      } catch (const LinkError& e) {
        throw LinkError(fmt::format("setup step \"{}\": {}", step_label(step), e.what()));
      }
    }
    check_errors(transcript, stop, "setup");
    set_up_ = true;
  } catch (...) {
    link_.reset();
    throw;
  }
}

void ScpiDriver::ensure_connected(Transcript& transcript, std::stop_token stop) {
  // A line given up on, closed by the instrument (some close one left idle) or opened only to
  // leave the instrument safe is replaced by a new one, set up afresh.
  if (link_ && (!set_up_ || link_->owes_reply() || !link_->alive())) {
    transcript.note(link_->broken() ? "the line had failed or was closed by the instrument: opening a new one" : "opening a new line");
    link_.reset();
  }
  if (!link_) open_line(transcript, stop, /*with_setup=*/true);
}

void ScpiDriver::connect_now() {
  Transcript transcript(config_.runs_dir / (utc_text(std::time(nullptr), "%Y%m%dT%H%M%SZ") + "-connect.txt"));
  try {
    ensure_connected(transcript, {});
  } catch (const LinkError& e) {
    throw Error(e.what());
  }
}

void ScpiDriver::do_step(const Step& step, const Params& params, Transcript& transcript, Clock::time_point deadline, std::stop_token stop) {
  switch (step.kind) {
    case Step::Kind::command: {
      const std::string command = filled(step.command, params);
      if (step.command.query)
        ask(command, transcript, deadline, stop);  // *OPC? and the like: the reply says it is done
      else
        send(command, transcript, deadline, stop);
      return;
    }
    case Step::Kind::wait: {
      transcript.note(fmt::format("waiting {:g} s", step.seconds));
      const auto until = std::min(deadline, Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(step.seconds)));
      while (Clock::now() < until) {
        if (stop.stop_requested()) throw LinkError("stopped while waiting");
        std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(50)));
      }
      if (Clock::now() >= deadline) throw LinkError("the time ran out while waiting");
      return;
    }
    case Step::Kind::poll: {
      const std::string query = filled(step.command, params);
      const auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(step.seconds));
      const std::optional<double> until_number = number_in(step.until);
      std::string last;
      for (long asked = 1;; ++asked) {
        // The first few asks and every 100th are in the transcript, not all: a poll every 0.01 s
        // for an hour would write 20 MB.
        const bool quiet = asked > 3 && asked % 100 != 0;
        const std::string reply = trimmed(ask(query, transcript, deadline, stop, quiet));
        const std::optional<double> n = number_in(reply);
        if (reply == step.until || (until_number && n && *n == *until_number)) {
          if (asked > 3) transcript.note(fmt::format("{} asked {} times; the last reply was \"{}\"", query, asked, printable(reply)));
          return;
        }
        last = reply;
        const auto next = Clock::now() + every;
        if (next >= deadline)
          throw LinkError(fmt::format("the time ran out before {} answered \"{}\" (asked {} times; last: \"{}\")", query, step.until, asked,
                                      printable(ready::shortened(last, 100))));
        while (Clock::now() < next) {
          if (stop.stop_requested()) throw LinkError("stopped while polling");
          std::this_thread::sleep_for(std::min<Clock::duration>(next - Clock::now(), std::chrono::milliseconds(50)));
        }
      }
    }
  }
}

std::string ScpiDriver::leave_safe(const Params& params, bool aborted, Transcript& transcript) {
  // Leaving the instrument safe matters more than anything else this driver does. Each step is
  // sent on the line there is, unless it failed or a reply on it is still owed; else on a new
  // one, whose identity is checked first and which gets no setup. A line that owes a reply is
  // not used: a query would read that reply as its own, and an instrument still busy with the
  // query given up on may never get to commands queued behind it. A step whose line breaks under
  // it is sent once more on a new line.
  std::string trouble;
  const auto add_trouble = [&](const std::string& what) {
    trouble += (trouble.empty() ? "" : "; ") + what;
    transcript.note(what);
  };
  const auto steps = [&](const std::vector<Step>& list, const char* name) {
    for (const Step& step : list) {
      const std::string label = step_label(step);
      for (int attempt = 1; attempt <= 2; ++attempt) {
        try {
          if (link_ && (!link_->alive() || link_->owes_reply())) link_.reset();
          if (!link_) open_line(transcript, {}, /*with_setup=*/false);
          do_step(step, params, transcript, deadline_outside_run(step), {});
          break;
        } catch (const IdentityMismatch&) {
          throw;
        } catch (const std::exception& e) {
          const bool line_broke = !link_ || link_->broken();
          if (line_broke) link_.reset();
          if (line_broke && attempt == 1) {
            transcript.note(fmt::format("the {} step \"{}\" failed on a broken line ({}); once more on a new one", name, label, e.what()));
            continue;
          }
          add_trouble(fmt::format("the {} step \"{}\" failed: {}", name, label, e.what()));
          break;
        }
      }
    }
  };
  try {
    if (aborted) steps(config_.abort, "abort");
    steps(config_.finish, "finish");
  } catch (const IdentityMismatch& e) {
    link_.reset();
    add_trouble(e.what());
  }
  return trouble;
}

Values ScpiDriver::run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) {
  // Every value is checked before anything is sent, so a refused setting leaves no half-sent
  // sequence at the instrument.
  for (const CommandTemplate* command : templates_) filled(*command, params);
  Transcript transcript(config_.runs_dir / (utc_text(std::time(nullptr), "%Y%m%dT%H%M%SZ") + "-" + ready::file_safe(experiment) + ".txt"));
  transcript.note("experiment " + experiment + " " + params.dump());
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(config_.declared.timeout_s));
  Values values;
  std::string failure;
  try {
    ensure_connected(transcript, stop);
    for (const Step& step : config_.run) do_step(step, params, transcript, deadline, stop);
    check_errors(transcript, stop, "the run steps");
    measuring_ = true;
    // Each distinct query once: outputs read as fields of one reply (MEAS:ALL?) come from one
    // measurement, not from as many as they are (a query that triggers a reading, READ?, took
    // the voltage of one and the current of the next).
    std::map<std::string, std::string> replies;
    for (const Measurement& m : config_.measure) {
      const std::string query = filled(m.query, params);
      auto asked = replies.find(query);
      if (asked == replies.end()) asked = replies.emplace(query, trimmed(ask(query, transcript, deadline, stop))).first;
      const std::string& reply = asked->second;
      const std::optional<std::string> field = m.field ? field_of(reply, *m.field) : reply;
      if (!field) throw Error(fmt::format("the reply to {} has no field {} (\"{}\")", m.query.source, *m.field, printable(ready::shortened(reply, 200))));
      const std::string& part = *field;
      const std::optional<double> v = number_in(part);
      if (!v) throw Error(fmt::format("the reply to {} for \"{}\" is not a number: \"{}\"", m.query.source, m.output, printable(ready::shortened(part, 200))));
      if (std::abs(*v) >= kScpiOverrange)
        throw Error(fmt::format("the instrument answered {} for \"{}\": SCPI's overrange or not-a-number (check the range setting)", part, m.output));
      values[m.output] = *v;
    }
    // A reply that comes after the last one read (the last query's own, when an unasked line took
    // its place) says the same: listened for briefly before the values are believed.
    if (const std::string stray = link_->pending_within(Clock::now() + kStraySettle); !stray.empty())
      throw Error(out_of_step(stray, "after the last measure query"));
    check_errors(transcript, stop, "the measure queries");
    measuring_ = false;
  } catch (const std::exception& e) {
    measuring_ = false;
    failure = e.what();
  }
  const bool aborted = stop.stop_requested();
  const std::string trouble = leave_safe(params, aborted, transcript);
  if (!trouble.empty())  // said where the operator looks, whatever becomes of the result's text
    std::cerr << "labloop-driver-scpi: experiment " << experiment << ": the instrument may not be left safe: " << trouble << std::endl;
  // After a failure the line is closed once the finish steps are sent: a reply given up on, or
  // a state nobody knows, is not carried into the next experiment, which opens a new line.
  if (!failure.empty()) link_.reset();
  if (aborted) throw Error(trouble.empty() ? "aborted" : "aborted; then " + trouble);  // serve() reports it as aborted
  if (!failure.empty()) throw Error(trouble.empty() ? failure : failure + "; then " + trouble);
  if (!trouble.empty()) throw Error("measured, but the instrument may not be left safe: " + trouble);
  transcript.note("result " + json(values).dump());
  return values;
}

}  // namespace labloop::scpi
