// Loading and validating campaign files. The checker (core/json_check.hpp) walks the JSON with its
// pointer path in hand, so every message can name exactly where the mistake is and what would fix it.
#include "labloop/campaign/campaign_config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <limits>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "labloop/core/error.hpp"
#include "labloop/core/parameter_check.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/wire/instrument_keys.hpp"
#include "labloop/core/small_file.hpp"
#include "labloop/core/unique_fd.hpp"
#include "labloop/core/json_limits.hpp"
#include "labloop/model/descriptors.hpp"
#include "labloop/model/feasible_sampler.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/core/version.hpp"
#include "labloop/journal/report.hpp"
#include "labloop/journal/signing.hpp"
#include "labloop/wire/protocol.hpp"
#include "labloop/wire/endpoint.hpp"

namespace labloop {

namespace {

using json = nlohmann::json;

using Node = JsonNode;

// A unit goes into CSV headers as "name [unit]": nothing there may end the header or the field.
constexpr const char* kUnitRule = "may not contain control characters, commas, quotes or brackets (it goes into CSV headers as \"name [unit]\")";
bool unit_fits_header(const std::string& unit) {
  return std::none_of(unit.begin(), unit.end(), [](char ch) {
    return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F || ch == ',' || ch == '"' || ch == '[' || ch == ']';
  });
}

// Choices as JSON strings, so that "1" and 1 read differently; at most 20 of them.
// At most the first 20 items of a list in a message (an instrument may declare 300 inputs).
template <typename T, typename Show>
std::string short_list(const std::vector<T>& items, Show show) {
  std::string out;
  for (size_t k = 0; k < items.size() && k < 20; ++k) out += (k ? ", " : "") + show(items[k]);
  if (items.size() > 20) out += fmt::format(", … ({} in all)", items.size());
  return out;
}

std::string quoted_list(const std::vector<std::string>& choices) {
  return short_list(choices, [](const std::string& c) { return json(c).dump(); });
}

// "controller_key": the controller's key pair, named relative to the campaign file, read and
// tried (read_signing_key), so a key that is missing, damaged, readable by others or unable to
// sign stops the campaign before anything starts, not at its first stop.
std::string parse_controller_key(const Node& node, const std::string& source) {
  const std::string given = node.as_string();
  if (given.empty()) node.fail("must name the controller's key pair, e.g. \"keys/controller\" (or leave the field out: the journal is then not signed)");
  std::filesystem::path path = std::filesystem::path(source).parent_path() / given;
  std::error_code ec;
  if (const auto absolute = std::filesystem::absolute(path, ec); !ec) path = absolute.lexically_normal();
  try {
    (void)read_signing_key(path);
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    node.fail(fmt::format("{} (the key that signs the journal; leave the field out for an unsigned journal)", e.what()));
  }
  return path.string();
}

// Names used in ids, file names and CSV headers: keep them simple so nothing needs quoting.
void check_identifier(const Node& node, const std::string& what) {
  const std::string s = node.as_string();
  // Names end up in experiment ids (at most 128 characters, protocol §7), file names and CSV headers.
  // The characters first: a name of 33 "é" was told it was 66 characters long (its bytes), when
  // no "é" may be in it at all. What passes is ASCII, one byte a character.
  for (char c : s)
    if (!name_char(c))
      node.fail(fmt::format("{} \"{}\" may only contain letters, digits, '_', '-' and '.'", what, s));
  if (s.size() > kMaxNameChars) node.fail(fmt::format("{} is {} characters long; at most {} are allowed", what, s.size(), kMaxNameChars));
}

// A categorical parameter's "descriptors" file (model/descriptors.hpp), relative to the campaign
// file's folder, read and checked now; the parameter keeps the absolute path, so the journaled
// config (replay) reads the same file.
void load_descriptors(const Node& node, Parameter& p, const std::string& source) {
  if (p.descriptors.empty()) return;
  namespace fs = std::filesystem;
  fs::path file = p.descriptors;
  if (file.is_relative()) file = fs::path(source).parent_path() / file;
  std::error_code ec;
  const fs::path absolute = fs::absolute(file, ec);
  if (!ec) file = absolute.lexically_normal();
  try {
    attach_descriptors(p, file);
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    node.child("descriptors").fail(e.what());
  }
}

// The journal records the candidates file and descriptor tables by path, as JSON text: a byte of
// the path that is not UTF-8 (a Latin-1 folder name) would be journaled as U+FFFD, and resume
// would then miss the file and its edit check (a red-team report). Only for a new campaign; a
// relative path is resolved as the campaign file's folder.
void require_text_paths(const CampaignConfig& config, const std::string& source) {
  const auto check = [&](const std::string& pointer, const std::string& named, const char* what) {
    std::filesystem::path path = named;
    if (path.is_relative()) path = std::filesystem::path(source).parent_path() / path;
    std::error_code ec;
    const std::filesystem::path whole = std::filesystem::absolute(path, ec);
    const std::string text = (ec ? path : whole).string();
    if (!valid_utf8(text))
      throw ConfigError(source, pointer,
                        fmt::format("names {} {}, whose path holds bytes that are not UTF-8; the journal records the path as text, "
                                    "so rename the folders on it (or move the files) to names in UTF-8",
                                    what, printable(text)));
  };
  if (!config.candidates.empty()) check("/candidates", config.candidates, "the candidates file");
  for (size_t i = 0; i < config.parameters.size(); ++i)
    if (!config.parameters[i].descriptors.empty())
      check(fmt::format("/parameters/{}/descriptors", i), config.parameters[i].descriptors, "the descriptors file");
}

// The dataset's descriptors.csv adopted (model/descriptors.hpp: adopt_descriptors, as `labloop
// bench --suite real` does) when every simulator of the campaign that has one has the same file.
// Only for a campaign file (load_campaign_config).
void adopt_dataset_descriptors(CampaignConfig& config, const SimulatorCatalogue& simulators) {
  std::set<std::filesystem::path> files;
  for (const InstrumentConfig& ic : config.instruments)
    if (const SimulatorSpec* spec = ic.is_simulator() ? simulators.find(ic.simulator) : nullptr; spec && !spec->descriptors.empty())
      files.insert(spec->descriptors);
  if (files.size() != 1) return;
  // Absolute, as load_descriptors journals a file (LABLOOP_DATA_DIR may be relative).
  std::error_code ec;
  std::filesystem::path file = std::filesystem::absolute(*files.begin(), ec).lexically_normal();
  if (ec) file = *files.begin();
  if (!valid_utf8(file.string()))  // as require_text_paths: the journal records the path as text
    throw ConfigError(config.source, "/instruments",
                      fmt::format("the dataset's descriptors file {} has a path with bytes that are not UTF-8; the journal records it as "
                                  "text, so keep the datasets in a folder whose path is UTF-8 (LABLOOP_DATA_DIR)",
                                  printable(file.string())));
  adopt_descriptors(config.parameters, file);
}

// A simulator's required constraint (a simplex dataset's emulator refuses any setting whose
// fractions do not sum to 1): a new campaign on it must say so in "constraints" (then every
// planner proposes only such settings), or it is refused here with the line to add. Only for a
// campaign file (load_campaign_config), so journals written before this still replay and resume.
void require_simulator_constraints(const CampaignConfig& config, const SimulatorCatalogue& simulators, const std::string& source) {
  for (size_t i = 0; i < config.instruments.size(); ++i) {
    const InstrumentConfig& ic = config.instruments[i];
    const SimulatorSpec* spec = ic.is_simulator() ? simulators.find(ic.simulator) : nullptr;
    if (!spec || !spec->required_constraint) continue;
    const std::string text = spec->required_constraint();
    if (text.empty()) continue;
    // Against the campaign's parameters; if they lack the simulator's, the instrument check says so.
    const ConstraintParse required = parse_linear_constraint(text, config.parameters);
    if (!required.constraint) continue;
    const bool declared = std::any_of(config.constraints.begin(), config.constraints.end(),
                                      [&](const LinearConstraint& c) { return c.same_as(*required.constraint); });
    if (!declared)
      throw ConfigError(source, fmt::format("/instruments/{}/simulator", i),
                        fmt::format("{} refuses any setting off \"{}\": add "
                                    "\"constraints\": [\"{}\"] to the campaign",
                                    ic.simulator, text, text));
  }
}

// Where objective i was written: "/objectives/i", or "/objective" when the file gave one alone.
std::string objective_path(const CampaignConfig& config, size_t i) {
  return config.objectives_listed ? fmt::format("/objectives/{}", i) : std::string("/objective");
}

// Where failure condition i was written: "/failure/when", or "/failure/when/i" for a list.
std::string failure_path(const CampaignConfig& config, size_t i) {
  return config.failure_when.size() == 1 ? std::string("/failure/when") : fmt::format("/failure/when/{}", i);
}

// One driver's address however it is spelt: tcp://localhost:5555, tcp://127.0.0.1:05555,
// tcp://127.1:5555, tcp://2130706433:5555 and tcp://0.0.0.0:5555 reach the driver at
// tcp://127.0.0.1:5555 (ZeroMQ resolves localhost to IPv4, reads a numeric host as inet_aton does,
// and the kernel takes 0.0.0.0 for this machine), and ipc://./a.ipc the one at ipc://a.ipc. Other
// host names are kept as written: looking them up would ask the network.
std::string endpoint_identity(const std::string& endpoint) {
  if (endpoint.starts_with("ipc://")) {
    std::error_code ec;
    const std::filesystem::path at = std::filesystem::weakly_canonical(endpoint.substr(6), ec);
    return ec ? endpoint : "ipc://" + at.string();
  }
  const auto colon = endpoint.rfind(':');
  if (!endpoint.starts_with("tcp://") || colon == std::string::npos || colon < 6) return endpoint;
  std::string host = endpoint.substr(6, colon - 6);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (const auto dotted = dotted_ipv4(host)) host = *dotted;
  if (host == "localhost" || host == "0.0.0.0") host = "127.0.0.1";
  unsigned port = 0;
  const std::string digits = endpoint.substr(colon + 1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size()) return endpoint;
  return fmt::format("tcp://{}:{}", host, port);
}

// What only a new campaign must meet: a journal from before these limits holds what it held, and
// its campaign goes on as it was.
void require_new_campaign_limits(const CampaignConfig& config, const std::string& source) {
  // labloop-sim takes its seed as an unsigned number: a negative one is refused when it starts.
  // (Only for a new campaign: a journal that holds one says so when its simulator starts.)
  for (size_t i = 0; i < config.instruments.size(); ++i)
    if (const auto& o = config.instruments[i].options; o.is_object() && o.contains("seed") && o["seed"].is_number() && o["seed"].get<double>() < 0)
      throw ConfigError(source, fmt::format("/instruments/{}/options/seed", i), fmt::format("is {}; a simulator's seed is a whole number from 0", o["seed"].dump()));
  if (config.planner.kind == "bayesian" && config.budget.experiments > kMostModelledResults)
    throw ConfigError(source, "/budget/experiments",
                      fmt::format("is {}; the bayesian planner learns from at most {} results (each proposal's cost grows with the cube of "
                                  "them): run the campaign in parts, each continuing from the last one's results.csv (prior_results), "
                                  "or use planner random or sobol",
                                  config.budget.experiments, kMostModelledResults));
  if (config.parameters.size() > kMaxParameters)
    throw ConfigError(source, "/parameters", fmt::format("declares {} parameters; at most {} are allowed", config.parameters.size(), kMaxParameters));
  // A threshold at or past the best end of its output's declared range leaves no value worth
  // having: the hypervolume stays 0 whatever is measured (a red-team report; stop.target and
  // outcome constraints the range rules out were refused already).
  for (size_t i = 0; i < config.objectives.size(); ++i) {
    const Objective& o = config.objectives[i];
    const OutputSpec* range = config.find_output(o.name);
    if (!o.threshold || !range) continue;
    const std::optional<double> best_end = o.goal == Goal::maximize ? range->high : range->low;
    if (best_end && (o.goal == Goal::maximize ? *o.threshold >= *best_end : *o.threshold <= *best_end))
      throw ConfigError(source, objective_path(config, i) + "/threshold",
                        fmt::format("is {:g}, but the range declared for \"{}\" in \"outputs\" ends at {:g}: no result could be better than "
                                    "it; give the worst value still worth having, within the range",
                                    *o.threshold, o.name, *best_end));
  }
  // The campaign keeps a copy of its candidates file in its folder under the file's own name
  // (candidates.hpp): a name the campaign writes there itself (results.csv, journal.jsonl, a
  // descriptors copy…) had the copy overwritten, and a moved folder could no longer resume or replay.
  if (!config.candidates.empty()) {
    const std::string file = std::filesystem::path(config.candidates).filename().string();
    static const std::vector<std::string_view> kWritten{"results.csv", "convergence.svg", "pareto.svg", "owner.lock", "owner.pid",
                                                        ".journal.jsonl.lock", ".journal.jsonl.correct.lock", "inbox"};
    const bool written = std::find(kWritten.begin(), kWritten.end(), file) != kWritten.end() || file.starts_with("journal.jsonl") ||
                         file.starts_with("stop-request.json") || file.ends_with(".descriptors.csv") || file.ends_with(".cache.jsonl") ||
                         file.ends_with(".completed.jsonl") || file.ends_with(".log");
    if (written)
      throw ConfigError(source, "/candidates",
                        fmt::format("\"{}\" is a name the campaign writes in its own folder, where it keeps a copy of its candidates file "
                                    "under that file's name: rename the file (e.g. plate.csv)",
                                    printable(file)));
  }
  // The default output folder is runs/<name>: "." or ".." made it runs/ itself, or the folder above.
  if (config.name == "." || config.name == "..")
    throw ConfigError(source, "/name", fmt::format("\"{}\" cannot name a campaign: it names its output folder (runs/NAME); use letters or digits", config.name));
  // Whole numbers past 2^53 have no exact double: 9007199254740993 in a candidates file was read as
  // ...992 and sent as that, above the declared high, without a word.
  constexpr double kLargestExactInteger = 9007199254740991.0;  // 2^53 - 1
  for (size_t i = 0; i < config.parameters.size(); ++i) {
    const Parameter& p = config.parameters[i];
    if (p.type != ParameterType::integer) continue;
    for (const auto& [bound, value] : {std::pair{"low", p.low}, std::pair{"high", p.high}})
      if (std::fabs(value) > kLargestExactInteger)
        throw ConfigError(source, fmt::format("/parameters/{}/{}", i, bound),
                          fmt::format("is {}; an integer parameter's bounds are at most 9007199254740991 (2^53 - 1) in magnitude, the "
                                      "largest whole numbers a double holds exactly",
                                      value));
  }
  // Whole-number solutions of the constraints too rare to find: parse_constraints' one draw can
  // meet one (97*n1 - 89*n2 == 1 over 0..10000 has 103 in 10^8 settings), and the run then stopped
  // at the first of its draws that missed 100 times in a row, before any experiment or after a few,
  // with resume stopping the same way. The planners draw with FeasibleSampler, so this draws as
  // they do: a campaign validate passes is one its run can sample. (Only for a new campaign: a
  // journal that holds such constraints goes on as far as it can, as before.)
  if (!config.constraints.empty() && config.candidates.empty()) {  // a candidate pool's rows are checked as they are
    const Space space = config.space();
    const std::vector<bool>& whole = space.region().integer();
    if (std::find(whole.begin(), whole.end(), true) != whole.end()) {
      FeasibleSampler sampler(space);
      std::mt19937_64 rng(config.seed);
      constexpr int kDraws = 64;
      bool stopped = false;
      int found = 0;
      try {
        for (; found < kDraws; ++found) sampler.next(rng);
      } catch (const PlannerError&) {
        stopped = true;
      }
      // A draw is thrown away when its rounding misses; the sampler gives up after 100 misses in a
      // row. With more than 4 misses in 5 that comes within a run's draws (a design draws up to
      // 4096) at a chance past 1e-6; below, it practically never does.
      const long long misses = sampler.misses();
      if (stopped || misses > 4 * kDraws) {
        std::vector<std::string> named;
        std::string path = "/constraints";
        for (size_t i = 0; i < config.constraints.size(); ++i) {
          const LinearConstraint& c = config.constraints[i];
          const bool names_whole = std::any_of(c.terms.begin(), c.terms.end(), [&](const auto& term) {
            const auto p = std::find_if(config.parameters.begin(), config.parameters.end(), [&](const Parameter& q) { return q.name == term.first; });
            return p != config.parameters.end() && (p->type == ParameterType::integer || p->type == ParameterType::discrete);
          });
          if (names_whole && c.relation == ConstraintRelation::equal) named.push_back(fmt::format("/constraints/{} (\"{}\")", i, c.text)), path = fmt::format("/constraints/{}", i);
        }
        if (named.size() != 1) path = "/constraints";
        const std::string which = named.empty() ? "the constraints" : fmt::format("{}", fmt::join(named, " and "));
        throw ConfigError(source, path,
                          fmt::format("whole-number settings meeting {} are too rare for the planner to find: {} of its first {} rounded "
                                      "draws missed them{} (a run stops when 100 in a row miss); make those parameters continuous or loosen "
                                      "the constraints",
                                      which, misses, misses + found, stopped ? ", 100 of them in a row" : ""));
      }
    }
  }
  // One driver behind two instruments would get the work of both, past the capacity it declared.
  std::map<std::string, size_t> endpoints;
  for (size_t i = 0; i < config.instruments.size(); ++i) {
    const std::string& endpoint = config.instruments[i].endpoint;
    if (endpoint.empty()) continue;
    if (const auto [it, fresh] = endpoints.emplace(endpoint_identity(endpoint), i); !fresh)
      throw ConfigError(source, fmt::format("/instruments/{}/endpoint", i),
                        fmt::format("\"{}\" is also instrument {}'s (\"{}\"{}): one driver would get the work of both; raise its capacity "
                                    "instead, or give each instrument its own driver",
                                    endpoint, it->second, config.instruments[it->second].name,
                                    config.instruments[it->second].endpoint == endpoint
                                        ? ""
                                        : fmt::format(", written \"{}\"", config.instruments[it->second].endpoint)));
  }
  // results.csv has one column per parameter, objective and output, found by its header name: two
  // columns of one name, or one named like labloop's own, would be read as each other.
  // An objective may also be declared among the outputs (for its unit or range): one column.
  enum class Kind { own, parameter, output };
  std::map<std::string, std::pair<Kind, std::string>> owner;  // name -> what it names, and where
  for (std::string_view own : kResultsColumns) owner[std::string(own)] = {Kind::own, "a column results.csv has of its own"};
  const auto claim = [&](const std::string& name, Kind kind, const std::string& where) {
    const auto [it, fresh] = owner.emplace(name, std::pair{kind, where});
    // An output may share a name with a column of labloop's own: datasets name their outputs
    // ("error" in the liquid-handling sets), and the objective's column comes first (docs/outputs.md).
    if (!fresh && it->second.first != kind && !(kind == Kind::output && it->second.first == Kind::own))
      throw ConfigError(source, where, fmt::format("\"{}\" is also {}: results.csv would have two columns of that name; rename one", name,
                                                   it->second.first == Kind::own ? it->second.second : "the name at " + it->second.second));
  };
  for (size_t i = 0; i < config.parameters.size(); ++i) {
    const Parameter& p = config.parameters[i];
    const std::string at = fmt::format("/parameters/{}", i);
    claim(p.name, Kind::parameter, at);
    if (!unit_fits_header(p.unit)) throw ConfigError(source, at + "/unit", kUnitRule);
    if (p.type != ParameterType::categorical) continue;
    if (p.choices.size() > kMaxChoices)
      throw ConfigError(source, at + "/choices", fmt::format("lists {} choices; at most {} are allowed", p.choices.size(), kMaxChoices));
    for (size_t k = 0; k < p.choices.size(); ++k) {
      const std::string& c = p.choices[k];
      // Length, control characters, spaces at either end: the same rule as a dataset's options.
      if (const std::string problem = choice_problem(c); !problem.empty()) throw ConfigError(source, fmt::format("{}/choices/{}", at, k), problem);
    }
  }
  // The hypervolume multiplies distances to the thresholds: at 1e300 it was infinite from the
  // first result, in the progress line, results.csv and status.
  for (size_t i = 0; i < config.objectives.size(); ++i)
    if (const auto& t = config.objectives[i].threshold; t && !(std::fabs(*t) <= kMaxThreshold))
      throw ConfigError(source, objective_path(config, i) + "/threshold",
                        fmt::format("is {}; at most {:g} in magnitude (express the objective in a larger unit)", *t, kMaxThreshold));
  for (size_t i = 0; i < config.objectives.size(); ++i) {
    const std::string at = objective_path(config, i);
    // An objective names an output (the same rule as "outputs"), and heads a column of results.csv,
    // pending --csv and the plots: "=HYPERLINK(…)" or an escape sequence there reached a
    // spreadsheet or a terminal as it was. Journals from before keep the names they hold.
    const std::string& name = config.objectives[i].name;
    if (!std::all_of(name.begin(), name.end(), name_char))
      throw ConfigError(source, at + "/name", fmt::format("objective name \"{}\" may only contain letters, digits, '_', '-' and '.' (as an output name)", name));
    if (name.size() > kMaxNameChars)
      throw ConfigError(source, at + "/name", fmt::format("objective name is {} characters long; at most {} are allowed", name.size(), kMaxNameChars));
    claim(name, Kind::output, at);
  }
  for (size_t i = 0; i < config.outputs.size(); ++i) claim(config.outputs[i].name, Kind::output, fmt::format("/outputs/{}", i));
  for (size_t i = 0; i < config.outcome_constraints.size(); ++i) claim(config.outcome_constraints[i].output, Kind::output, fmt::format("/outcome_constraints/{}", i));
  // A failure condition is on what was measured too: one naming a parameter passed validate and
  // then failed at run, blaming the instrument for not measuring it.
  for (size_t i = 0; i < config.failure_when.size(); ++i)
    claim(config.failure_when[i].output, Kind::output, failure_path(config, i));
  // A person's results come through `labloop enter DIR ID NAME=VALUE … [--failed …] [--by …]`
  // and `labloop pending --csv`, whose columns are the parameters and outputs beside its own
  // "experiment", "instrument" and "failed": an output named "failed" had its measured value
  // recorded as a failure's reason, and one named "--by" or "-y" was read as an option.
  if (std::any_of(config.instruments.begin(), config.instruments.end(), [](const InstrumentConfig& i) { return i.manual; })) {
    // Only outputs are typed as NAME=VALUE: a parameter may start with '-' (pending --csv quotes it).
    std::vector<std::pair<std::string, std::string>> names;  // name, where
    for (size_t i = 0; i < config.parameters.size(); ++i)
      if (config.parameters[i].name == "failed") names.emplace_back("failed", fmt::format("/parameters/{}/name", i));
    for (size_t i = 0; i < config.objectives.size(); ++i) names.emplace_back(config.objectives[i].name, objective_path(config, i) + "/name");
    for (size_t i = 0; i < config.outputs.size(); ++i) names.emplace_back(config.outputs[i].name, fmt::format("/outputs/{}", i));
    for (size_t i = 0; i < config.outcome_constraints.size(); ++i)
      names.emplace_back(config.outcome_constraints[i].output, fmt::format("/outcome_constraints/{}", i));
    for (size_t i = 0; i < config.failure_when.size(); ++i)
      names.emplace_back(config.failure_when[i].output, failure_path(config, i));
    for (const auto& [name, where] : names) {
      const bool taken = name == "experiment" || name == "instrument" || name == "failed";
      if (taken || name.starts_with('-'))
        throw ConfigError(source, where,
                          fmt::format("\"{}\" {}: a person enters results with `labloop enter` and `labloop pending --csv`, which {}; rename it",
                                      name, taken ? "is a column of `labloop pending --csv` of its own" : "starts with '-'",
                                      taken ? "would read it as that column" : "would read it as an option"));
    }
  }
  // Outcome constraints no value can meet together: no result would ever count.
  for (size_t i = 0; i < config.outcome_constraints.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      const OutcomeCondition &a = config.outcome_constraints[j], &b = config.outcome_constraints[i];
      if (a.output != b.output || a.relation == b.relation) continue;
      const OutcomeCondition& at_least = a.relation == Relation::at_least ? a : b;
      const OutcomeCondition& at_most = a.relation == Relation::at_most ? a : b;
      if (at_least.bound > at_most.bound || (at_least.bound == at_most.bound && (a.strict || b.strict)))
        throw ConfigError(source, fmt::format("/outcome_constraints/{}", i),
                          fmt::format("\"{}\" and \"{}\" cannot both hold: no result would ever count; loosen one of them", a.text(), b.text()));
    }
  // Goals the declared ranges of the outputs rule out (a red-team report: validate passed them all).
  const auto range_text = [](const OutputSpec& o) {
    return fmt::format("[{}, {}]", o.low ? fmt::format("{:g}", *o.low) : std::string("-inf"), o.high ? fmt::format("{:g}", *o.high) : std::string("inf"));
  };
  for (size_t i = 0; i < config.outcome_constraints.size(); ++i) {
    const OutcomeCondition& c = config.outcome_constraints[i];
    const OutputSpec* o = config.find_output(c.output);
    // Beyond the range, or on its end for a strict one ("y > 100" for [0, 100]).
    const auto past = [&](double end) { return c.relation == Relation::at_least ? c.bound > end || (c.strict && c.bound == end)
                                                                               : c.bound < end || (c.strict && c.bound == end); };
    if (o && ((c.relation == Relation::at_least && o->high && past(*o->high)) || (c.relation == Relation::at_most && o->low && past(*o->low))))
      throw ConfigError(source, fmt::format("/outcome_constraints/{}", i),
                        fmt::format("\"{}\" cannot hold for any value in the range declared for \"{}\" {}: no result would ever count; "
                                    "loosen it, or widen the range in \"outputs\"",
                                    c.text(), c.output, range_text(*o)));
  }
  for (size_t i = 0; i < config.failure_when.size(); ++i) {
    const OutcomeCondition& f = config.failure_when[i];
    const OutputSpec* o = config.find_output(f.output);
    // Every value of the range meets it: its nearest end does (f.holds, strictness included).
    if (o && ((f.relation == Relation::at_least && o->low && f.holds(*o->low)) || (f.relation == Relation::at_most && o->high && f.holds(*o->high))))
      throw ConfigError(source, failure_path(config, i),
                        fmt::format("\"{}\" holds for every value in the range declared for \"{}\" {}: every result would count as failed",
                                    f.text(), f.output, range_text(*o)));
  }
  if (config.target) {
    const Objective& first = config.objective;
    const OutputSpec* o = config.find_output(first.name);
    if (o && ((first.goal == Goal::maximize && o->high && *config.target > *o->high) || (first.goal == Goal::minimize && o->low && *config.target < *o->low)))
      throw ConfigError(source, "/stop/target",
                        fmt::format("is {:g}, which no value in the range declared for \"{}\" {} reaches: the campaign would run its whole budget "
                                    "for it; give a target within the range",
                                    *config.target, first.name, range_text(*o)));
  }
  // Every `run` carries the parameters, and the stand-in instruments' welcome declares them: both
  // must fit one protocol message, with room for the rest.
  json declared = json::array();
  for (const Parameter& p : config.parameters) declared.push_back(p.to_json());
  const std::size_t bytes = declared.dump().size();
  if (bytes > protocol::kMaxMessageBytes / 2)
    throw ConfigError(source, "/parameters",
                      fmt::format("the parameters take {} bytes as written in a protocol message; at most {} fit (docs/protocol.md §2): declare "
                                  "fewer parameters or choices",
                                  bytes, protocol::kMaxMessageBytes / 2));
}

Parameter parse_parameter(const Node& node) {
  if (!node.value().is_object()) node.expect_object({});
  Parameter p;
  check_identifier(node.child("name"), "parameter name");
  p.name = node.child("name").as_string();
  const Node type_node = node.child("type");
  const std::string type = type_node.as_string();
  const std::vector<std::string> types{"continuous", "integer", "categorical", "discrete"};
  if (type == "continuous") p.type = ParameterType::continuous;
  else if (type == "integer") p.type = ParameterType::integer;
  else if (type == "categorical") p.type = ParameterType::categorical;
  else if (type == "discrete") p.type = ParameterType::discrete;
  else type_node.fail(fmt::format("unknown parameter type \"{}\"{} (use continuous, integer, categorical or discrete)", type, did_you_mean(type, types)));
  // Keys of another type get a message that says which type takes them.
  if (p.type != ParameterType::discrete && node.has("values"))
    node.child("values").fail(fmt::format("only a discrete parameter takes \"values\"; make the type \"discrete\" or use {}",
                                          p.type == ParameterType::categorical ? "\"choices\"" : "\"low\" and \"high\""));
  if (p.type == ParameterType::discrete)
    for (const char* key : {"low", "high", "choices"})
      if (node.has(key))
        node.child(key).fail(fmt::format("a discrete parameter takes its levels from \"values\" only; drop \"{}\"", key));

  if (p.type == ParameterType::discrete) {
    node.expect_object({"name", "type", "values", "log", "unit"});
    const Node values = node.child("values");
    const size_t n = values.as_array(true).size();
    // One level is a constant sent with every run: how a campaign holds a driver's numeric input
    // (which it must name, check_instrument_fits) at one value, as a one-choice categorical does.
    if (n == 0) values.fail("must list the levels (e.g. [0.05, 0.1, 0.15]; one level holds the input at that value)");
    if (n > kMaxDiscreteLevels)
      values.fail(fmt::format("lists {} levels; at most {} are allowed (use a continuous or integer parameter)", n, kMaxDiscreteLevels));
    // Finite, distinct, told apart, a spread a double holds: the same check as a dataset's levels.
    p.values = read_discrete_levels(values);
    p.low = p.values.front();
    p.high = p.values.back();
    if (node.has("log")) p.log = node.child("log").as_bool();
    if (p.log && p.low <= 0)
      node.child("log").fail(fmt::format("a log-scaled parameter needs every level > 0 (it has {}): drop \"log\" or that level", p.low));
  } else if (p.type == ParameterType::categorical) {
    node.expect_object({"name", "type", "choices", "unit", "descriptors"});
    if (node.has("descriptors")) {
      // A file (load_descriptors reads it), or false: one-hot only, not even a dataset's own file.
      const Node d = node.child("descriptors");
      if (d.value().is_boolean()) {
        if (d.as_bool()) d.fail("true is not a file: name a descriptor file (\"ligands.csv\"), or false for none");
        p.one_hot_only = true;
      } else {
        p.descriptors = d.as_string();
      }
    }
    const Node choices = node.child("choices");
    if (choices.as_array(true).empty()) choices.fail("must list at least one choice");
    std::set<std::string> seen;
    for (size_t i = 0; i < choices.value().size(); ++i) {
      const std::string c = choices.at(i).as_string();
      if (!seen.insert(c).second) choices.at(i).fail(fmt::format("duplicate choice \"{}\"", c));
      p.choices.push_back(c);
    }
  } else {
    node.expect_object({"name", "type", "low", "high", "log", "unit"});
    const Node low = node.child("low"), high = node.child("high");
    if (p.type == ParameterType::integer) {
      // Settings travel as doubles (the model, the journal, JSON readers in other languages): past
      // 2^53 they could not all be told apart, nor sent exactly.
      for (const Node& bound : {low, high})
        if (const long long v = bound.as_integer(); v > kMostExactInteger || v < -kMostExactInteger)
          // Worded with a new campaign's limit (2^53 - 1, checked below) so both messages agree;
          // 2^53 itself still parses, as journals from before that limit hold it.
          bound.fail(fmt::format("must be from -{0} to {0} (2^53 - 1: integers beyond it are not exact as numbers); express it in a larger unit",
                                 kMostExactInteger - 1));
      p.low = static_cast<double>(low.as_integer());
      p.high = static_cast<double>(high.as_integer());
    } else {
      p.low = low.as_number();
      p.high = high.as_number();
    }
    if (!(p.low < p.high)) high.fail(fmt::format("is {}, which must be greater than low ({})", p.high, p.low));
    // The model works on (x − low) / (high − low): a range beyond the largest double is no range.
    if (!std::isfinite(p.high - p.low))
      high.fail(fmt::format("lies too far above low ({} to {}: a range larger than the largest number, {:g}); express the parameter in a "
                            "larger unit",
                            p.low, p.high, std::numeric_limits<double>::max()));
    if (node.has("log")) p.log = node.child("log").as_bool();
    if (p.log && p.low <= 0) low.fail(fmt::format("must be greater than 0 for a log-scaled parameter (got {})", p.low));
  }
  if (node.has("unit")) p.unit = node.child("unit").as_string(true);
  return p;
}

Objective parse_objective(const Node& node) {
  node.expect_object({"name", "goal", "threshold", "noise"});
  Objective o;
  o.name = node.child("name").as_string();
  if (node.has("goal")) {
    const Node goal = node.child("goal");
    const std::string g = goal.as_string();
    if (g == "minimize") o.goal = Goal::minimize;
    else if (g == "maximize") o.goal = Goal::maximize;
    else goal.fail(fmt::format("must be \"minimize\" or \"maximize\", got \"{}\"{}", g, did_you_mean(g, {"minimize", "maximize"})));
  }
  if (node.has("threshold")) o.threshold = node.child("threshold").as_number();
  if (node.has("noise")) {
    const Node noise = node.child("noise");
    o.noise = noise.as_number();
    // The same range a driver's welcome may state (protocol §4.1), so an adopted noise fits it too.
    if (!(*o.noise >= 0 && *o.noise <= protocol::kMaxStatedNoise))
      noise.fail(fmt::format("must be from 0 to 1e100 (the standard deviation of a measurement of \"{}\", in its units; got {})", o.name, *o.noise));
  }
  return o;
}

// results.csv has columns of these names for campaigns with several objectives or conditions on
// outputs (docs/outputs.md): an output of the same name would make two columns alike.
void refuse_report_column(const Node& node, const std::string& name) {
  for (const char* column : {"pareto", "hypervolume", "counts"})
    if (name == column)
      node.fail(fmt::format("an output named \"{}\" would clash with results.csv's own \"{}\" column: rename the output", name, column));
}

// "objective": {…} (one) or "objectives": [{…}, …] (one or more). A journaled config carries
// both, the first objective as "objective", so that readers older than "objectives" still know
// it; they must then agree.
void parse_objectives(const Node& top, CampaignConfig& c) {
  if (!top.has("objectives")) {
    c.objective = parse_objective(top.child("objective"));
    c.objectives = {c.objective};
    return;
  }
  const Node list = top.child("objectives");
  c.objectives_listed = true;
  list.as_array();
  if (list.value().size() > kMaxObjectives)
    list.fail(fmt::format("lists {} objectives; at most {} are allowed", list.value().size(), kMaxObjectives));
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < list.value().size(); ++i) {
    Objective o = parse_objective(list.at(i));
    refuse_report_column(list.at(i).child("name"), o.name);
    if (auto [it, inserted] = seen.emplace(o.name, i); !inserted)
      list.at(i).child("name").fail(fmt::format("duplicate objective \"{}\" (also at /objectives/{})", o.name, it->second));
    c.objectives.push_back(std::move(o));
  }
  c.objective = c.objectives.front();
  if (top.has("objective")) {
    const Objective single = parse_objective(top.child("objective"));
    const auto goal = [](Goal g) { return g == Goal::minimize ? "minimize" : "maximize"; };
    if (single.name != c.objective.name)
      top.child("objective").fail(fmt::format("names \"{}\" but \"objectives\" starts with \"{}\": give one of the two (\"objectives\" for several)",
                                              single.name, c.objective.name));
    if (single.goal != c.objective.goal)
      top.child("objective").fail(fmt::format("says {} \"{}\" but \"objectives\" says {} it: give one of the two (\"objectives\" for several)",
                                              goal(single.goal), single.name, goal(c.objective.goal)));
    // Noise and threshold too: "objectives" wins, and a different word here was dropped unsaid.
    const auto stated = [](const std::optional<double>& v) { return v ? fmt::format("{}", *v) : std::string("none"); };
    for (const auto& [key, here, there] : {std::tuple{"noise", single.noise, c.objective.noise}, std::tuple{"threshold", single.threshold, c.objective.threshold}})
      if (here != there)
        top.child("objective").fail(fmt::format("gives \"{}\" {} {} but \"objectives\" gives {}: give one of the two (\"objectives\" for several)",
                                                single.name, key, stated(here), stated(there)));
  }
}

// A list of conditions on outputs ("purity >= 0.95"), as a string or an array of strings.
std::vector<OutcomeCondition> parse_conditions(const Node& parent, const std::string& key, const char* what) {
  std::vector<OutcomeCondition> out;
  if (!parent.has(key)) return out;
  const Node node = parent.child(key);
  std::vector<Node> items;
  if (node.value().is_string()) {
    items.push_back(node);
  } else {
    node.as_array();
    if (node.value().size() > kMaxOutcomeConditions)
      node.fail(fmt::format("lists {} conditions; at most {} are allowed", node.value().size(), kMaxOutcomeConditions));
    for (size_t i = 0; i < node.value().size(); ++i) items.push_back(node.at(i));
  }
  for (const Node& item : items) {
    OutcomeCondition condition;
    const std::string text = item.as_string();
    if (const std::string problem = parse_outcome_condition(text, condition); !problem.empty())
      item.fail(fmt::format("\"{}\" is not {}: it {}", text, what, problem));
    refuse_report_column(item, condition.output);
    out.push_back(std::move(condition));
  }
  return out;
}

// "constraints": an array of strings (linear_constraints.hpp), each parsed against the parameters,
// then the set checked satisfiable within the bounds: "no setting satisfies /constraints/0 (…)
// and /constraints/2 (…) together". With integers in a constraint, a whole-number setting must
// also be found (the relaxation may be satisfiable when no whole numbers are). False when any of
// that failed (then c.constraints stays empty and the planner is checked without them).
bool parse_constraints(const Node& node, CampaignConfig& c, ConfigMistakes& mistakes) {
  if (!mistakes.check([&] {
        node.as_array(true);
        if (node.value().size() > kMaxConstraints)
          node.fail(fmt::format("has {} constraints; at most {} are allowed", node.value().size(), kMaxConstraints));
      }))
    return false;
  std::vector<LinearConstraint> parsed;
  bool ok = true;
  for (size_t i = 0; i < node.value().size(); ++i)
    ok &= mistakes.check([&] {
      const Node item = node.at(i);
      ConstraintParse result = parse_linear_constraint(item.as_string(true), c.parameters);
      if (!result.constraint) item.fail(result.error);
      parsed.push_back(std::move(*result.constraint));
    });
  if (!ok) return false;
  return mistakes.check([&] {
    std::vector<int> offsets;
    int dim = 0;
    for (const auto& p : c.parameters) offsets.push_back(dim), dim += p.cube_width();
    const FeasibleRegion region(c.parameters, offsets, dim, parsed);
    if (const auto subset = region.infeasible_subset(); !subset.empty())
      (subset.size() == 1 ? node.at(static_cast<size_t>(subset[0])) : node).fail(describe_infeasible(parsed, subset));
    const Space space(c.parameters, parsed);
    if (!region.integer().empty() && std::find(region.integer().begin(), region.integer().end(), true) != region.integer().end()) {
      try {
        std::mt19937_64 rng(c.seed);
        FeasibleSampler(space).next(rng);
      } catch (const PlannerError&) {
        // A search, not a proof: 997a + 991b + 983c == 99991 has whole solutions it can miss.
        node.fail("no setting of whole numbers and levels that meets the constraints was found: they may need fractional values of "
                  "integer parameters or values between discrete levels, or have too few whole solutions to find: make those "
                  "parameters continuous or loosen the constraints");
      }
    }
    c.constraints = std::move(parsed);
  });
}

// Options labloop-sim accepts, with their checks: its own, which every function takes, and the
// function's own (e.g. dtlz2's "objectives"), which the function's spec checks.
void check_simulator_options(const Node& options, const SimulatorSpec& function) {
  std::vector<std::string> accepted = simulator_options();
  accepted.insert(accepted.end(), function.option_names.begin(), function.option_names.end());
  options.expect_object(accepted);
  auto within = [&](const char* key, double high, const char* what) {
    if (!options.has(key)) return;
    const double value = options.child(key).as_number();
    if (!(value >= 0 && value <= high)) options.child(key).fail(fmt::format("must be from 0 to {:g} ({}; got {})", high, what, value));
  };
  within("noise", 1e100, "standard deviation of Gaussian noise");
  within("delay", kMaxSeconds, "seconds per experiment");
  within("jitter", kMaxSeconds, "seconds added at random to the delay");
  // Fault injection (docs/reliability.md): probabilities per experiment, or per reply.
  for (const char* rate : {"fail_rate", "hang_rate", "crash_rate", "garbage_rate", "oversize_rate"})
    if (options.has(rate)) {
      const double value = options.child(rate).as_number();
      if (!(value >= 0 && value <= 1)) options.child(rate).fail(fmt::format("must be a probability between 0 and 1 (got {})", value));
    }
  if (options.has("crash_after") && (options.child("crash_after").as_integer() < 0 || options.child("crash_after").as_integer() > INT_MAX))
    options.child("crash_after").fail(fmt::format("must be from 0 to {} (experiments started before the simulator kills itself)", INT_MAX));
  if (options.has("capacity") && options.child("capacity").as_integer() < 1) options.child("capacity").fail("must be at least 1");
  // Read back as int (simulator_info, dry runs): larger would wrap, or be undefined for 1e18.
  if (options.has("capacity") && options.child("capacity").as_integer() > INT_MAX) options.child("capacity").fail(fmt::format("must be at most {}", INT_MAX));
  if (options.has("seed")) options.child("seed").as_integer();
  if (options.has("dim")) {
    const long long d = options.child("dim").as_integer();
    if (d < function.min_dim || d > function.max_dim) {
      if (function.min_dim == function.max_dim)
        options.child("dim").fail(fmt::format("{} is fixed at {} dimensions", function.name, function.min_dim));
      options.child("dim").fail(fmt::format("{} allows {} to {} dimensions (got {})", function.name, function.min_dim, function.max_dim, d));
    }
  }
  // After "dim": a function's options may depend on its dimension (dtlz2 needs dim >= objectives).
  if (function.check_options) function.check_options(options);
}

OutputSpec parse_output(const Node& node) {
  OutputSpec o;
  if (node.value().is_string()) {  // a bare name: no unit, no range
    check_identifier(node, "output name");
    o.name = node.as_string();
    return o;
  }
  node.expect_object({"name", "unit", "low", "high"});
  check_identifier(node.child("name"), "output name");
  o.name = node.child("name").as_string();
  if (node.has("unit")) {
    o.unit = node.child("unit").as_string();
    if (const std::size_t n = character_count(o.unit); n > kMaxNameChars)
      node.child("unit").fail(fmt::format("is {} characters long; at most {} are allowed", n, kMaxNameChars));
    if (!unit_fits_header(o.unit)) node.child("unit").fail(kUnitRule);
  }
  if (node.has("low")) o.low = node.child("low").as_number();
  if (node.has("high")) o.high = node.child("high").as_number();
  if (o.low && o.high && !(*o.low < *o.high)) node.child("high").fail(fmt::format("is {}, which must be greater than low ({})", *o.high, *o.low));
  return o;
}

// An instrument's "security" section: the driver's public key and this controller's key pair,
// read now so a missing file, a damaged key or a secret others may read stops the file loading.
// Paths are relative to the campaign file; client_keys defaults to the top-level controller_key.
InstrumentKeys parse_instrument_security(const Node& node, const std::string& controller_key, const std::filesystem::path& base,
                                         bool controller_key_refused) {
  node.expect_object({"server_public_key", "client_keys"});
  const Node server = node.child("server_public_key");
  InstrumentKeys keys;
  try {
    keys.server = read_public_key(base / server.as_string());
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    server.fail(fmt::format("{} (the driver's public key: its NAME.pub from `labloop keys new`)", e.what()));
  }
  std::string client = controller_key;
  if (node.has("client_keys")) client = node.child("client_keys").as_string();
  if (client.empty() && controller_key_refused)
    node.fail("takes its client_keys from \"controller_key\", which was refused (see /controller_key)");
  if (client.empty())
    node.fail("needs \"client_keys\": this controller's key pair, e.g. \"keys/controller\" (`labloop keys new controller`), or a "
              "top-level \"controller_key\"");
  try {
    keys.client = read_checked_key_pair(base / client);
  } catch (const Error& e) {
    const std::string why = fmt::format("{} (this controller's key pair{})", e.what(), node.has("client_keys") ? "" : ", from \"controller_key\"");
    if (node.has("client_keys")) node.child("client_keys").fail(why);
    node.fail(why);
  }
  return keys;
}

InstrumentConfig parse_instrument(const Node& node, const SimulatorCatalogue& simulators, const std::string& controller_key,
                                  const std::filesystem::path& base, bool controller_key_refused) {
  node.expect_object({"name", "endpoint", "simulator", "manual", "capacity", "options", "timeout_s", "heartbeat_s", "heartbeat_misses",
                      "connect_timeout_s", "retries", "retry_backoff_s", "quarantine_after", "reconnect_s", "security"});
  InstrumentConfig ic;
  check_identifier(node.child("name"), "instrument name");
  ic.name = node.child("name").as_string();
  if (node.has("manual")) ic.manual = node.child("manual").as_bool();
  if (int(node.has("endpoint")) + int(node.has("simulator")) + int(ic.manual) != 1)
    node.fail("needs exactly one of \"endpoint\" (a running driver, e.g. \"tcp://127.0.0.1:5555\"), \"simulator\" (e.g. \"branin\") "
              "or \"manual\": true (a person enters results with `labloop enter`)");
  if (node.has("capacity")) {
    if (!ic.manual) node.child("capacity").fail("is only for manual instruments; a driver declares its own capacity (a simulator takes it in \"options\")");
    const long long n = node.child("capacity").as_integer();
    if (n < 1 || n > kMaxManualCapacity) node.child("capacity").fail(fmt::format("must be from 1 to {} (got {})", kMaxManualCapacity, n));
    ic.capacity = static_cast<int>(n);
  }
  if (ic.manual) {
    if (node.has("options")) node.child("options").fail("options are only for simulators");
  } else if (node.has("endpoint")) {
    const Node ep = node.child("endpoint");
    ic.endpoint = ep.as_string();
    // "tcp://127.0.0.1" (no port) validated and then failed at run as a connection not made.
    if (const std::string problem = endpoint_problem(ic.endpoint, EndpointUse::connect); !problem.empty()) ep.fail(problem);
    if (node.has("options")) node.child("options").fail("options are only for simulators; a driver at an endpoint takes its options on its own command line");
  } else {
    const Node sim_node = node.child("simulator");
    ic.simulator = sim_node.as_string();
    const SimulatorSpec* function = simulators.find(ic.simulator);
    if (!function)
      sim_node.fail(simulators.unknown(ic.simulator));
    if (function->unavailable)
      if (const std::string why = function->unavailable(); !why.empty()) sim_node.fail(why);
    if (node.has("options")) {
      check_simulator_options(node.child("options"), *function);
      ic.options = node.child("options").value();
    }
    const int dim = ic.options.contains("dim") ? ic.options["dim"].get<int>() : function->default_dim;
    ic.simulated_inputs = function->inputs(dim);
    ic.simulated_offered = function->offered_inputs ? function->offered_inputs(dim) : ic.simulated_inputs;
    if (function->outputs) ic.simulated_outputs = function->outputs(ic.options);
  }
  // Upper limits keep every product of these (heartbeat × misses, backoff × 2^retries) and every
  // conversion to clock ticks finite and exact; docs/config.md lists them.
  auto seconds = [&](const char* key, double& out, double high) {
    if (!node.has(key)) return;
    out = node.child(key).as_number();
    if (!(out > 0)) node.child(key).fail(fmt::format("must be greater than 0 seconds (got {})", out));
    if (out > high) node.child(key).fail(fmt::format("must be at most {:g} seconds (got {})", high, out));
  };
  seconds("timeout_s", ic.timeout_s, kMaxSeconds);
  seconds("heartbeat_s", ic.heartbeat_s, 3600);
  seconds("connect_timeout_s", ic.connect_timeout_s, 86400);
  seconds("retry_backoff_s", ic.retry_backoff_s, 86400);
  seconds("reconnect_s", ic.reconnect_s, kMaxSeconds);
  auto count = [&](const char* key, int& out, int low, int high) {
    if (!node.has(key)) return;
    const long long value = node.child(key).as_integer();
    if (value < low || value > high) node.child(key).fail(fmt::format("must be from {} to {} (got {})", low, high, value));
    out = static_cast<int>(value);
  };
  count("heartbeat_misses", ic.heartbeat_misses, 1, 1000);
  count("retries", ic.retries, 0, 20);
  // A person's "failed" is a verdict on the chemistry, not on the person: never quarantine them
  // unless the file asks to.
  if (ic.manual) ic.quarantine_after = kMaxQuarantineAfter;
  count("quarantine_after", ic.quarantine_after, 1, kMaxQuarantineAfter);
  if (node.has("security")) {
    if (ic.endpoint.empty())
      node.child("security").fail("is only for drivers at an endpoint; labloop talks to its own simulators and stand-ins over a private ipc socket");
    ic.keys = parse_instrument_security(node.child("security"), controller_key, base, controller_key_refused);
    // Absolute, so the journaled config (resume) finds the same files from anywhere.
    const auto absolute = [&](const std::string& given) {
      std::error_code ec;
      const std::filesystem::path path = std::filesystem::absolute(base / given, ec);
      return ec ? (base / given).string() : path.lexically_normal().string();
    };
    const Node sec = node.child("security");
    ic.security_paths = {{"server_public_key", absolute(sec.child("server_public_key").as_string())},
                         {"client_keys", absolute(sec.has("client_keys") ? sec.child("client_keys").as_string() : controller_key)}};
  }
  return ic;
}

// The two slips people make most when editing JSON by hand, in plain words and at the place to
// fix (the parser only notices at the next token, often a line later). `at` is the byte the parser
// stopped at; "" when it is neither.
std::string plain_syntax_error(const std::string& text, size_t at) {
  if (at >= text.size()) return {};
  // The parser stops at the end of a string token: step back to its opening quote.
  if (text[at] == '"' && at > 0) {
    size_t open = at - 1;
    while (open > 0 && !(text[open] == '"' && text[open - 1] != '\\')) --open;
    if (text[open] == '"') at = open;
  }
  size_t before = at;
  while (before > 0 && std::isspace(static_cast<unsigned char>(text[before - 1]))) --before;
  if (before == 0) return {};
  const char previous = text[before - 1], next = text[at];
  if (previous == ',' && (next == ']' || next == '}'))
    return fmt::format("not valid JSON: a comma at {} is followed by '{}'; JSON allows no comma after the last item: remove it",
                       line_and_column(text, before - 1), next);
  if (next == '"' && (previous == '"' || previous == '}' || previous == ']' || std::isdigit(static_cast<unsigned char>(previous)) ||
                      previous == 'e' || previous == 'l'))
    return fmt::format("not valid JSON: a comma is missing at {}, before the string at {}", line_and_column(text, before),
                       line_and_column(text, at));
  return {};
}

}  // namespace

KeyPair read_signing_key(const std::filesystem::path& path) {
  const KeyPair pair = read_checked_key_pair(path);
  // sign_message says it when the pair has no signing part, or its seed does not give its key.
  const std::string probe = "labloop: can controller_key sign?";
  if (!signature_valid(pair.public_key, probe, sign_message(pair, probe)))
    throw Error(fmt::format("key \"{}\" cannot sign: its signatures do not verify with its own public key (is it damaged?)", printable(pair.public_key.name)));
  // Its .pub is what auditors are given (docs/security.md): one from another pair would have
  // them told an untouched journal was changed after it was signed.
  const std::filesystem::path pub = public_key_path(path);
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(pub, ec))) {
    const PublicKey published = read_public_key(pub);
    if (published.curve != pair.public_key.curve || (published.sign && published.sign != pair.public_key.sign))
      throw Error(fmt::format("{} is not this pair's public key ({} \"{}\", the pair's {} \"{}\"): `labloop verify --key` with it would call "
                              "every signed journal changed. Put the pair's own .pub there (labloop keys list shows MISMATCH)",
                              printable(pub.string()), published.fingerprint(), printable(published.name), pair.public_key.fingerprint(),
                              printable(pair.public_key.name)));
  }
  return pair;
}

CampaignConfig parse_campaign_config(const std::string& text, const std::string& source, const SimulatorCatalogue& simulators) {
  // The JSON reader took a NUL byte for the end of the text: whatever followed was never checked.
  if (const auto nul = std::find(text.begin(), text.end(), '\0'); nul != text.end())
    throw ConfigError(source, "", fmt::format("holds a NUL byte at {}: a campaign file is text (is it the right file, or damaged?)",
                                              line_and_column(text, static_cast<size_t>(nul - text.begin()))));
  if (const auto at = find_excess_nesting(text, kMaxConfigDepth))
    throw ConfigError(source, "", fmt::format("arrays/objects nested deeper than {} levels at {}; a campaign file needs "
                                              "only a few (is it damaged, or not a campaign file?)",
                                              kMaxConfigDepth, line_and_column(text, *at)));
  json root;
  std::optional<std::string> repeated;
  try {
    root = parse_json_noting_repeats(text, /*ignore_comments=*/true, repeated);
  } catch (const json::parse_error& e) {
    const size_t at = e.byte > 0 ? e.byte - 1 : 0;
    if (const std::string plain = plain_syntax_error(text, at); !plain.empty()) throw ConfigError(source, "", plain);
    throw ConfigError(source, "", fmt::format("not valid JSON at {}: {}", line_and_column(text, at), json_syntax_problem(e)));
  } catch (const json::out_of_range& e) {
    // A number beyond double range (1e999) is out_of_range, not parse_error, and has no position:
    // found by its text, which the message quotes ("number overflow parsing '1e400'").
    std::string what = e.what();
    auto pos = what.find("] ");
    what = pos == std::string::npos ? what : what.substr(pos + 2);
    std::string where;
    if (const auto open = what.find('\''), close = what.rfind('\''); open != std::string::npos && close > open + 1)
      if (const size_t at = text.find(what.substr(open + 1, close - open - 1)); at != std::string::npos) where = " at " + line_and_column(text, at);
    throw ConfigError(source, "", fmt::format("not valid JSON{}: {} (a number beyond ±1.8e308)", where, what));
  }
  if (repeated) throw ConfigError(source, *repeated, "is given twice in one object; JSON keeps only the last, so remove one of them");
  const Node top(root, "", source);
  // Every independent part of the file is checked even after a mistake in another, so one run of
  // `validate` names them all; checks that need earlier parts (the planner's options need the
  // parameters) run only when those parts are right.
  ConfigMistakes mistakes;
  top.expect_object({"name", "description", "seed", "parameters", "constraints", "objective", "objectives", "outcome_constraints", "failure",
                     "outputs", "planner", "instruments", "budget", "stop", "output", "prior_results", "candidates", "controller_key",
                     "constraint_sampling"}, mistakes);

  CampaignConfig c;
  c.source = source;
  mistakes.check([&] {
    check_identifier(top.child("name"), "campaign name");
    c.name = top.child("name").as_string();
  });
  // Free text for people, never read by labloop: a number or an object there is a field put in
  // the wrong place, not a description.
  mistakes.check([&] {
    if (top.has("description") && !top.child("description").value().is_null()) (void)top.child("description").as_string(true);
  });
  mistakes.check([&] {
    if (!top.has("seed")) return;
    const long long seed = top.child("seed").as_integer();
    if (seed < 0) top.child("seed").fail("must be >= 0");
    c.seed = static_cast<std::uint64_t>(seed);
  });

  bool parameters_ok = mistakes.check([&] { top.child("parameters").as_array(); });
  if (parameters_ok) {
    const Node params = top.child("parameters");
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < params.value().size(); ++i)
      parameters_ok &= mistakes.check([&] {
        Parameter p = parse_parameter(params.at(i));
        load_descriptors(params.at(i), p, source);
        if (auto [it, inserted] = seen.emplace(p.name, i); !inserted)
          params.at(i).child("name").fail(fmt::format("duplicate parameter name \"{}\" (also at /parameters/{})", p.name, it->second));
        c.parameters.push_back(std::move(p));
      });
  }

  // Constraints need the parameters; each is checked on its own, then all together (satisfiable).
  if (parameters_ok && top.has("constraints")) parse_constraints(top.child("constraints"), c, mistakes);
  mistakes.check([&] {
    if (!top.has("constraint_sampling")) return;
    const Node node = top.child("constraint_sampling");
    const std::string value = node.as_string();
    if (value == "rounded") c.constraint_sampling = ConstraintSampling::rounded;
    else if (value == "isotropic") c.constraint_sampling = ConstraintSampling::isotropic;
    else node.fail(fmt::format("must be \"rounded\" or \"isotropic\", got \"{}\"{}", value, did_you_mean(value, {"rounded", "isotropic"})));
  });

  const bool objective_ok = mistakes.check([&] { parse_objectives(top, c); });
  mistakes.check([&] { c.outcome_constraints = parse_conditions(top, "outcome_constraints", "an outcome constraint"); });
  mistakes.check([&] {
    if (!top.has("failure")) return;
    const Node failure = top.child("failure");
    failure.expect_object({"when"});
    c.failure_when = parse_conditions(failure, "when", "a failure condition");
  });
  mistakes.check([&] {
    if (!top.has("outputs")) return;
    const Node outputs = top.child("outputs");
    outputs.as_array();
    if (outputs.value().size() > kMaxOutputs) outputs.fail(fmt::format("declares {} outputs; at most {} are allowed", outputs.value().size(), kMaxOutputs));
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < outputs.value().size(); ++i) {
      OutputSpec o = parse_output(outputs.at(i));
      if (auto [it, inserted] = seen.emplace(o.name, i); !inserted)
        outputs.at(i).fail(fmt::format("duplicate output name \"{}\" (also at /outputs/{})", o.name, it->second));
      c.outputs.push_back(std::move(o));
    }
  });

  const bool planner_ok = mistakes.check([&] {
    if (!top.has("planner")) return;
    const Node planner = top.child("planner");
    if (!planner.value().is_object()) planner.expect_object({});
    c.planner.kind = planner.child("kind").as_string();
    for (const auto& [key, value] : planner.value().items())
      if (key != "kind") c.planner.options[key] = value;
  });

  std::vector<bool> instrument_ok;
  // Before the instruments: it is their security sections' default client_keys. Read and tried
  // here (absolute afterwards), so a key that cannot sign stops the file loading.
  const bool controller_key_refused = !mistakes.check([&] {
    if (top.has("controller_key")) c.controller_key = parse_controller_key(top.child("controller_key"), source);
  });
  if (mistakes.check([&] { top.child("instruments").as_array(); })) {
    const Node instruments = top.child("instruments");
    std::map<std::string, size_t> instrument_names;
    for (size_t i = 0; i < instruments.value().size(); ++i)
      instrument_ok.push_back(mistakes.check([&] {
        InstrumentConfig ic = parse_instrument(instruments.at(i), simulators, c.controller_key, std::filesystem::path(source).parent_path(),
                                            controller_key_refused);
        if (auto [it, inserted] = instrument_names.emplace(ic.name, i); !inserted)
          instruments.at(i).child("name").fail(fmt::format("duplicate instrument name \"{}\" (also at /instruments/{})", ic.name, it->second));
        c.instruments.push_back(std::move(ic));
      }));
  }

  mistakes.check([&] {
    const Node budget = top.child("budget");
    budget.expect_object({"experiments", "hours"});
    const Node experiments = budget.child("experiments");
    const long long n = experiments.as_integer();
    if (n < 1) experiments.fail(fmt::format("must be at least 1 (got {})", n));
    if (n > kMaxExperiments) experiments.fail(fmt::format("must be at most {} (got {})", kMaxExperiments, n));
    c.budget.experiments = static_cast<int>(n);
  });
  mistakes.check([&] {
    if (!top.has("budget") || !top.child("budget").value().is_object() || !top.child("budget").has("hours")) return;
    const Node hours = top.child("budget").child("hours");
    c.budget.hours = hours.as_number();
    if (!(c.budget.hours > 0)) hours.fail(fmt::format("must be greater than 0 (got {}); leave it out for no time limit", c.budget.hours));
    if (c.budget.hours > kMaxSeconds / 3600)
      hours.fail(fmt::format("must be at most {:g} hours (got {}); leave it out for no time limit", kMaxSeconds / 3600, c.budget.hours));
  });

  mistakes.check([&] {
    if (!top.has("stop")) return;
    const Node stop = top.child("stop");
    stop.expect_object({"target", "pause_on_failures"});
    if (stop.has("target")) c.target = stop.child("target").as_number();
    if (stop.has("pause_on_failures")) c.pause_on_failures = stop.child("pause_on_failures").as_bool();
  });

  mistakes.check([&] { c.output = top.has("output") ? top.child("output").as_string() : "runs/" + c.name; });
  mistakes.check([&] {
    if (!top.has("prior_results")) return;
    c.prior_results = top.child("prior_results").as_string();
    if (c.prior_results.empty()) top.child("prior_results").fail("must name a CSV file (or leave the field out)");
  });
  // The file itself is read where the campaign starts, resumes or is validated (candidates.hpp):
  // parsing a file never reads another.
  mistakes.check([&] {
    if (!top.has("candidates")) return;
    c.candidates = top.child("candidates").as_string();
    if (c.candidates.empty()) top.child("candidates").fail("must name a CSV file of the settings to choose from (or leave the field out)");
  });


  // The planner checks its own options (each kind accepts different ones).
  if (parameters_ok && planner_ok) mistakes.check([&] { make_planner(PlannerContext{c.space(), c.seed, c.planner, c.source, c.planner_goals()}); });

  // Simulators are known in advance: check them now so `validate` catches mismatches before
  // anything starts. Drivers at endpoints are checked when they answer `hello`. Only instruments
  // that parsed are in c.instruments, so their indices are looked up again for the messages.
  if (parameters_ok && objective_ok && std::all_of(instrument_ok.begin(), instrument_ok.end(), [](bool ok) { return ok; }))
    for (size_t i = 0; i < c.instruments.size(); ++i)
      if (c.instruments[i].is_simulator()) mistakes.check([&] { check_instrument_fits(c, i, simulator_info(c, i)); });
  mistakes.throw_if_any();
  return c;
}

CampaignConfig load_campaign_config(const std::string& path, const SimulatorCatalogue& simulators) {
  if (std::error_code ec; std::filesystem::is_directory(path, ec)) throw ConfigError(path, "", "is a folder, not a campaign file");
  bool is_pipe = false;
  const UniqueFd fd{open_for_reading(path, is_pipe)};  // a pipe nobody writes to was waited on for ever
  if (fd.get() < 0) throw ConfigError(path, "", "cannot open the file (does it exist, and can you read it?)");
  std::string text;
  for (char buffer[65536]; text.size() <= kMaxConfigBytes;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ConfigError(path, "", fmt::format("cannot read the file: {}", std::strerror(errno)));
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  if (text.empty() && is_pipe) throw ConfigError(path, "", "is a pipe nothing was written to; name the campaign file itself");
  if (text.size() > kMaxConfigBytes)
    throw ConfigError(path, "", fmt::format("is larger than {} MiB, the most a campaign file may be (is it the right file?)", kMaxConfigBytes >> 20));
  CampaignConfig config = parse_campaign_config(text, path, simulators);
  // First, so the checks below draw as the campaign's planners will.
  if (!config.constraints.empty() && !config.constraint_sampling) config.constraint_sampling = ConstraintSampling::rounded;
  require_text_paths(config, path);
  require_new_campaign_limits(config, path);
  require_simulator_constraints(config, simulators, path);
  adopt_dataset_descriptors(config, simulators);
  set_new_campaign_defaults(config.planner, config.parameters, !config.candidates.empty());
  return config;
}

namespace {

// What an instrument labloop stands in for itself declares (it has no driver to ask).
InstrumentInfo stand_in_info(const char* driver, std::vector<Parameter> inputs, std::vector<std::string> outputs, int capacity) {
  InstrumentInfo info;
  info.driver = driver;
  info.version = kVersion;
  info.inputs = std::move(inputs);
  info.outputs = std::move(outputs);
  info.capacity = capacity;
  return info;
}

}  // namespace

std::vector<std::string> unanswerable_choices(const CampaignConfig& config) {
  std::vector<std::string> out;
  for (const InstrumentConfig& ic : config.instruments)
    for (const Parameter& offered : ic.simulated_offered) {
      const auto p = std::find_if(config.parameters.begin(), config.parameters.end(), [&](const Parameter& q) { return q.name == offered.name; });
      if (p == config.parameters.end() || p->type != ParameterType::categorical || offered.type != ParameterType::categorical) continue;
      std::vector<std::string> missing;
      for (const std::string& choice : p->choices)
        if (std::find(offered.choices.begin(), offered.choices.end(), choice) == offered.choices.end()) missing.push_back(choice);
      if (!missing.empty())
        out.push_back(fmt::format("parameter '{}': instrument '{}' ({}) cannot answer {} {} (no measurement holds {}): every experiment "
                                  "proposing {} fails; remove {} from the choices",
                                  p->name, ic.name, ic.simulator, missing.size() == 1 ? "choice" : "choices", fmt::join(missing, ", "),
                                  missing.size() == 1 ? "it" : "them", missing.size() == 1 ? "it" : "one", missing.size() == 1 ? "it" : "them"));
    }
  return out;
}

InstrumentInfo simulator_info(const CampaignConfig& config, size_t index) {
  const InstrumentConfig& ic = config.instruments.at(index);
  // A function that names no outputs of its own has the one labloop-sim has always declared, "y".
  std::vector<std::string> outputs = ic.simulated_outputs.empty() ? std::vector<std::string>{"y"} : ic.simulated_outputs;
  return stand_in_info("labloop-sim", ic.simulated_inputs, std::move(outputs), ic.options.contains("capacity") ? ic.options["capacity"].get<int>() : 1);
}

// The objectives (and outputs the outcome constraints and failure conditions name) are required;
// other declared outputs are optional, so they are not among the outputs a result must carry.
InstrumentInfo manual_info(const CampaignConfig& config, size_t index) {
  return stand_in_info("labloop-manual", config.parameters, config.required_outputs(), config.instruments.at(index).capacity);
}

void check_instrument_fits(const CampaignConfig& config, size_t index, const InstrumentInfo& info, InstrumentFit when) {
  const InstrumentConfig& ic = config.instruments.at(index);
  const std::string path = fmt::format("/instruments/{}", index);
  // `advice`: what to change in a new campaign's file. A campaign that has started keeps the
  // parameters it journaled (resume and extend read them there), so the instrument must change back.
  auto fail = [&](const std::string& reason, const std::string& advice) {
    throw ConfigError(config.source, path,
                      when == InstrumentFit::new_campaign || advice.empty()
                          ? fmt::format("instrument '{}' {}{}{}", ic.name, reason, advice.empty() ? "" : "; ", advice)
                          : fmt::format("instrument '{}' {}; this campaign's parameters are fixed since it started: give the instrument back "
                                        "the limits it had (its driver's declaration), then `labloop resume`",
                                        ic.name, reason));
  };
  std::vector<std::string> input_names;
  for (const auto& in : info.inputs) input_names.push_back(in.name);

  for (const auto& p : config.parameters) {
    auto it = std::find_if(info.inputs.begin(), info.inputs.end(), [&](const Parameter& in) { return in.name == p.name; });
    if (it == info.inputs.end())
      fail(fmt::format("has no input named \"{}\"{} (it declares: {})", p.name, did_you_mean(p.name, input_names),
                       short_list(input_names, [](const std::string& n) { return n; })),
           "rename the parameter or use another instrument");
    const Parameter& limit = *it;
    if (p.type == ParameterType::categorical) {
      if (limit.type != ParameterType::categorical)
        fail(fmt::format("declares \"{}\" as {}, but the campaign makes it categorical", p.name, to_string(limit.type)), "");
      for (const auto& choice : p.choices)
        if (std::find(limit.choices.begin(), limit.choices.end(), choice) == limit.choices.end())
          fail(fmt::format("does not accept choice {} for \"{}\" (it accepts: {})", json(choice).dump(), p.name, quoted_list(limit.choices)), "");
    } else if (p.type == ParameterType::discrete) {
      // Levels fit a continuous input within its bounds, an integer input when whole and within
      // them, a discrete input when it has every one of them.
      if (limit.type == ParameterType::categorical) fail(fmt::format("declares \"{}\" as categorical, but the campaign makes it discrete", p.name), "");
      for (double v : p.values) {
        if (limit.type == ParameterType::discrete) {
          if (limit.level_index(v) < 0)
            fail(fmt::format("does not accept level {} for \"{}\" (it accepts: {})", v, p.name,
                             short_list(limit.values, [](double level) { return fmt::format("{}", level); })),
                 "use only those levels");
        } else if (v < limit.low || v > limit.high) {
          fail(fmt::format("limits \"{}\" to [{}, {}], but the campaign asks for level {}", p.name, limit.low, limit.high, v), "drop the levels outside");
        } else if (limit.type == ParameterType::integer && v != std::floor(v)) {
          fail(fmt::format("declares \"{}\" as integer, but the campaign's level {} is not a whole number", p.name, v), "use whole levels");
        }
      }
    } else {
      if (limit.type == ParameterType::categorical)
        fail(fmt::format("declares \"{}\" as categorical, but the campaign makes it {}", p.name, to_string(p.type)), "");
      if (limit.type == ParameterType::discrete)
        fail(fmt::format("declares \"{}\" as discrete (levels {}), but the campaign makes it {}", p.name, fmt::join(limit.values, ", "), to_string(p.type)),
             "make the parameter \"type\": \"discrete\" with some of those levels as \"values\"");
      if (limit.type == ParameterType::integer && p.type == ParameterType::continuous)
        fail(fmt::format("declares \"{}\" as integer, but the campaign makes it continuous", p.name), "make the parameter \"type\": \"integer\"");
      if (p.low < limit.low || p.high > limit.high)
        fail(fmt::format("limits \"{}\" to [{}, {}], but the campaign asks for [{}, {}]", p.name, limit.low, limit.high, p.low, p.high),
             "narrow the parameter's bounds to fit");
    }
  }
  for (const auto& in : info.inputs) {
    if (!std::any_of(config.parameters.begin(), config.parameters.end(), [&](const Parameter& p) { return p.name == in.name; }))
      fail(fmt::format("needs input \"{}\" ({}), but the campaign has no such parameter", in.name, in.describe_domain()), "add it to \"parameters\"");
  }
  for (const std::string& needed : config.required_outputs()) {
    if (std::find(info.outputs.begin(), info.outputs.end(), needed) != info.outputs.end()) continue;
    const bool objective = std::any_of(config.objectives.begin(), config.objectives.end(), [&](const Objective& o) { return o.name == needed; });
    fail(fmt::format("does not measure the {} \"{}\"{} (its outputs: {})", objective ? "objective" : "output", needed,
                     did_you_mean(needed, info.outputs), fmt::join(info.outputs, ", ")),
         "");
  }
}

nlohmann::json OutputSpec::to_json() const {
  json j{{"name", name}};
  if (!unit.empty()) j["unit"] = unit;
  if (low) j["low"] = *low;
  if (high) j["high"] = *high;
  return j;
}

std::vector<std::string> adopt_stated_noise(CampaignConfig& config, const std::vector<const InstrumentInfo*>& instruments) {
  std::vector<std::string> lines;
  if (instruments.empty()) return lines;
  const std::string warp = config.planner.kind == "bayesian" && config.planner.options.contains("output_transform") &&
                                   config.planner.options["output_transform"].is_string()
                               ? config.planner.options["output_transform"].get<std::string>()
                               : "";
  for (size_t j = 0; j < config.objectives.size(); ++j) {
    Objective& o = config.objectives[j];
    if (o.noise) continue;
    std::optional<double> largest;
    bool everyone = true;
    for (const InstrumentInfo* info : instruments) {
      const auto it = info->noise.find(o.name);
      if (it == info->noise.end()) everyone = false;
      else largest = std::max(largest.value_or(0.0), it->second);
    }
    if (!largest) continue;
    if (!everyone) {
      lines.push_back(fmt::format("objective \"{}\": its noise is estimated from the results (not every instrument states one)", o.name));
    } else if (warp == "yeo_johnson" || warp == "half_rank") {
      lines.push_back(fmt::format("objective \"{}\": the noise the instruments state ({:g}) is not used: the planner's \"output_transform\": "
                                  "\"{}\" changes the results' units",
                                  o.name, *largest, warp));
    } else {
      o.noise = largest;
      if (j == 0) config.objective.noise = largest;
      lines.push_back(fmt::format("objective \"{}\": noise {:g} (standard deviation) as the instruments state it", o.name, *largest));
    }
  }
  return lines;
}

PlannerGoals CampaignConfig::planner_goals() const {
  PlannerGoals goals;
  goals.objectives = static_cast<int>(objectives.size());
  for (const Objective& o : objectives) {
    goals.thresholds.push_back(o.threshold ? o.sign() * *o.threshold : std::numeric_limits<double>::quiet_NaN());
    goals.noise.push_back(o.noise.value_or(std::numeric_limits<double>::quiet_NaN()));
  }
  goals.outcome_constraints = static_cast<int>(outcome_constraints.size());
  goals.failure_condition = !failure_when.empty();
  return goals;
}

std::vector<std::string> CampaignConfig::required_outputs() const {
  std::vector<std::string> out;
  auto add = [&](const std::string& needed) {
    if (std::find(out.begin(), out.end(), needed) == out.end()) out.push_back(needed);
  };
  for (const Objective& o : objectives) add(o.name);
  for (const OutcomeCondition& c : outcome_constraints) add(c.output);
  for (const OutcomeCondition& c : failure_when) add(c.output);
  return out;
}

const OutputSpec* CampaignConfig::find_output(const std::string& wanted) const {
  for (const auto& o : outputs)
    if (o.name == wanted) return &o;
  return nullptr;
}

nlohmann::json CampaignConfig::to_json() const {
  json j;
  j["name"] = name;
  j["seed"] = seed;
  j["parameters"] = json::array();
  for (const auto& p : parameters) j["parameters"].push_back(p.to_json());
  // Only when present, so a config without constraints is journaled as it always was.
  if (!constraints.empty()) {
    j["constraints"] = json::array();
    for (const auto& k : constraints) j["constraints"].push_back(k.text);
  }
  if (constraint_sampling) j["constraint_sampling"] = *constraint_sampling == ConstraintSampling::rounded ? "rounded" : "isotropic";
  auto objective_json = [](const Objective& o) {
    json out{{"name", o.name}, {"goal", o.goal == Goal::minimize ? "minimize" : "maximize"}};
    if (o.threshold) out["threshold"] = *o.threshold;
    if (o.noise) out["noise"] = *o.noise;
    return out;
  };
  // "objective" stays (the first objective) so that readers older than "objectives" still know it.
  j["objective"] = objective_json(objective);
  if (objectives.size() > 1 || objective.threshold) {
    j["objectives"] = json::array();
    for (const Objective& o : objectives) j["objectives"].push_back(objective_json(o));
  }
  auto conditions = [](const std::vector<OutcomeCondition>& list) {
    json out = json::array();
    for (const OutcomeCondition& c : list) out.push_back(c.text());
    return out;
  };
  if (!outcome_constraints.empty()) j["outcome_constraints"] = conditions(outcome_constraints);
  if (!failure_when.empty()) j["failure"] = {{"when", conditions(failure_when)}};
  if (!outputs.empty()) {
    j["outputs"] = json::array();
    for (const auto& o : outputs) j["outputs"].push_back(o.to_json());
  }
  j["planner"] = planner.options;
  j["planner"]["kind"] = planner.kind;
  j["instruments"] = json::array();
  for (const auto& ic : instruments) {
    json i{{"name", ic.name}};
    if (ic.is_simulator()) i["simulator"] = ic.simulator, i["options"] = ic.options;
    else if (ic.is_manual()) i["manual"] = true, i["capacity"] = ic.capacity;
    else i["endpoint"] = ic.endpoint;
    if (ic.timeout_s > 0) i["timeout_s"] = ic.timeout_s;
    i["heartbeat_s"] = ic.heartbeat_s;
    i["heartbeat_misses"] = ic.heartbeat_misses;
    i["connect_timeout_s"] = ic.connect_timeout_s;
    i["retries"] = ic.retries;
    i["retry_backoff_s"] = ic.retry_backoff_s;
    i["quarantine_after"] = ic.quarantine_after;
    i["reconnect_s"] = ic.reconnect_s;
    // Paths only (the keys stay in their files); kept also when a journaled config was read
    // without its key files, so writing it again never drops the instrument's encryption.
    if (!ic.security_paths.is_null()) i["security"] = ic.security_paths;
    j["instruments"].push_back(i);
  }
  j["budget"] = {{"experiments", budget.experiments}};
  if (budget.hours > 0) j["budget"]["hours"] = budget.hours;
  if (target) j["stop"]["target"] = *target;
  if (!pause_on_failures) j["stop"]["pause_on_failures"] = false;  // written only when off: older readers know the rest
  if (!prior_results.empty()) j["prior_results"] = prior_results;
  if (!candidates.empty()) j["candidates"] = candidates;
  if (!controller_key.empty()) j["controller_key"] = controller_key;  // absolute: resume finds the key from the journal
  j["output"] = output;
  return j;
}

}  // namespace labloop
