// labloop: the command line. Exceptions become exit codes here and nowhere else:
// ConfigError → 2, any other error → 1, each printed once. `verify` exits 0 or 1 (with --key, 1
// also for a signature that fails or a journal not wholly signed by that key).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <pthread.h>
#include <atomic>
#include <utility>
#include <cstdlib>
#include <new>
#include <sys/resource.h>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "labloop/journal/audit.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/pareto_report.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/starter_campaign.hpp"
#include "labloop/campaign/campaign_overview.hpp"
#include "labloop/core/append_file.hpp"
#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/wire/instrument.hpp"
#include "labloop/wire/endpoint.hpp"
#include "labloop/model/descriptors.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/campaign/release.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/core/version.hpp"
#include "bench.hpp"
#include "bench_options.hpp"
#include "manual.hpp"
#include "keys.hpp"
#include "labloop/campaign/prior_results.hpp"
#include "labloop/campaign/candidates.hpp"
#include "labloop/campaign/manual_entry.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/core/os_user.hpp"
#include "labloop/core/key_file.hpp"
#include "progress.hpp"
#include "console.hpp"
#include "driver_check.hpp"
#include "catalogue.hpp"

namespace {

// The command line's numbers, each with its stated range: a number in decimal notation from `low`
// to `high` (a whole one for counts). CLI11's own range check printed the largest double in full
// ("not in range 0.000000 to 179769313486231570814527…") and let through a negative --noise, an
// infinite --grace (whose conversion to milliseconds overflowed) and --seeds 100000000.
CLI::Validator between(double low, double high, bool whole = false) {
  return CLI::Validator([=](std::string& given) { return labloop::number_range_problem(given, low, high, whole); },
                        labloop::number_range_text(low, high));
}
CLI::Validator count_up_to(double most) { return between(1, most, true); }
// Seconds running experiments get after a stop: as long as a campaign's time budget may be.
const CLI::Validator kGraceSeconds = between(0, labloop::kMaxSeconds);
// A folder named on the command line: an empty one ("$DIR" unset) was taken as none, and the
// campaign written to the file's own output folder instead.
const CLI::Validator kFolder(
    [](std::string& given) { return given.empty() ? std::string("is empty; name a folder, or leave the option out for the default") : std::string(); },
    "DIR");

// Each parameter with rows in its dataset's descriptors.csv that load_campaign_config left one-hot
// (those rows damaged, a choice missing), and why: the journal does not say, so validate and run
// do. Adopting again on a copy reproduces it (adopt_dataset_descriptors: one file for the campaign).
std::vector<std::string> dataset_descriptor_notes(const labloop::CampaignConfig& config) {
  std::set<std::filesystem::path> files;
  for (const auto& ic : config.instruments)
    if (const auto* spec = ic.is_simulator() ? labloop::sim::catalogue().find(ic.simulator) : nullptr; spec && !spec->descriptors.empty())
      files.insert(spec->descriptors);
  if (files.size() != 1) return {};
  std::vector<labloop::Parameter> parameters = config.parameters;
  return labloop::adopt_descriptors(parameters, *files.begin());
}

int validate(const std::string& file, bool instruments) {
  const auto config = labloop::load_campaign_config(file, labloop::sim::catalogue());
  const auto count = [](size_t n, const char* noun) { return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s"); };
  // The files it names are read first: "ok" is said only of a campaign that can start.
  const std::optional<labloop::PriorResults> prior =
      config.prior_results.empty() ? std::nullopt : std::optional<labloop::PriorResults>(labloop::read_prior_results(config));
  const std::optional<labloop::CandidateFile> pool =
      config.candidates.empty() ? std::nullopt : std::optional<labloop::CandidateFile>(labloop::read_candidates(config));
  fmt::print("{}: ok — campaign \"{}\", {}, {}, budget {}, planner {}\n", file, config.name,
             count(config.parameters.size(), "parameter"), count(config.instruments.size(), "instrument"),
             count(static_cast<size_t>(config.budget.experiments), "experiment"), config.planner.kind);
  if (prior) {
    const auto& priors = *prior;
    for (const auto& skipped : priors.skipped) fmt::print("prior_results: {}\n", skipped);
    if (!priors.ignored_columns.empty()) fmt::print("prior_results: ignored columns (neither parameters nor outputs): {}\n", fmt::join(priors.ignored_columns, ", "));
    fmt::print("prior_results: {} of {} taught to the planner before its first proposal\n", count(priors.rows.size(), "row"),
               priors.rows.size() + priors.skipped.size());
  }
  // How the planner uses them is journaled for a new campaign (docs/decisions/0015, 0016): say what it means.
  const nlohmann::json& planner_options = config.planner.options;
  const bool bayesian = config.planner.kind == "bayesian";
  const nlohmann::json margin = bayesian ? planner_options.value("one_hot_margin", nlohmann::json()) : nlohmann::json();
  const std::string weighing =
      bayesian && planner_options.value("one_hot_residual", nlohmann::json(false)) == true
          ? "the planner models each choice by them plus an effect of its own, fitting how much each explains (one_hot_residual)"
      : margin.is_number() && margin.get<double>() > 0
          ? fmt::format("the planner keeps them unless one-hot has stronger evidence by more than {:g} (one_hot_margin)", margin.get<double>())
          : "the planner weighs them against one-hot by evidence";
  for (const std::string& note : dataset_descriptor_notes(config)) fmt::print("descriptors: {}\n", note);
  for (const std::string& note : labloop::unanswerable_choices(config)) fmt::print("note: {}\n", note);
  for (const auto& p : config.parameters) {
    if (p.descriptors.empty()) continue;
    // What the model will see: descriptors equal for every choice tell it nothing (a table's
    // defect a technician should hear of before a campaign, not find in its figures).
    const auto features = labloop::descriptor_features(p.descriptor_values).cols();
    if (features == 0)
      fmt::print("descriptors: parameter '{}': its {} descriptors in {} are the same for every choice, so the model cannot use them: it sees the choices one-hot\n",
                 p.name, p.descriptor_names.size(), p.descriptors);
    else
      fmt::print("descriptors: parameter '{}': {} per choice from {} ({} feature{} for the model); {}\n", p.name, p.descriptor_names.size(), p.descriptors,
                 features, features == 1 ? "" : "s", weighing);
  }
  // A new campaign's β on a finite set of settings (docs/decisions/0012) is said here, as the
  // journal will record it.
  const nlohmann::json beta = config.planner.kind == "bayesian" ? config.planner.options.value("beta", nlohmann::json()) : nlohmann::json();
  const std::string exploring = beta.is_number() ? fmt::format("; the planner explores them with UCB beta {:g}", beta.get<double>()) : "";
  if (pool) {
    const auto& candidates = *pool;
    fmt::print("candidates: {} from {}; proposals are chosen among them, each at most once{}\n", count(static_cast<size_t>(candidates.pool.size()), "row"),
               candidates.path.string(), exploring);
  } else {
    double settings = 1;  // a double: a product of many sizes may pass any integer's range
    for (const auto& p : config.parameters) settings *= static_cast<double>(p.listed_values());
    if (settings > 0) fmt::print("space: {:.0f} settings in all (every parameter categorical or discrete){}\n", settings, exploring);
    if (settings > 0 && settings < config.budget.experiments)
      fmt::print("note: the budget ({} experiments) is more than the {:.0f} settings: once every setting has been run, settings are "
                 "proposed again (replicates); give a smaller budget to run each once\n",
                 config.budget.experiments, settings);
  }
  if (!instruments) return 0;
  // Connects to every instrument (starting simulators) as `run` would, and lets go: nothing runs.
  int status = 0;
  for (const auto& check : labloop::check_instruments(config, labloop::CampaignOptions{})) {
    if (check.problem.empty()) {
      fmt::print("instrument '{}': ok — {} {}, capacity {}, outputs {}\n", check.instrument, check.info->driver, check.info->version,
                 check.info->capacity, fmt::join(check.info->outputs, ", "));
    } else {
      // An InstrumentError names the instrument already; say it once.
      const std::string prefix = fmt::format("instrument '{}': ", check.instrument);
      fmt::print("{}{}\n", check.problem.rfind(prefix, 0) == 0 ? "" : prefix, check.problem);
      status = check.mismatch ? 2 : std::max(status, 1);
    }
  }
  if (status != 0) fmt::print("{}: the instruments do not all fit this campaign (nothing was run)\n", file);
  return status;
}

// `labloop new FILE --simulator NAME | --endpoint ADDRESS`: a starter campaign file, never over an
// existing file, and only once it loads as written.
struct NewCommand {
  std::string file, simulator, endpoint, objective, goal;
  labloop::StarterOptions starter;
};

// What the driver at `endpoint` declares, asked with one plain hello (no campaign id: it is not
// taken from whoever holds it).
labloop::InstrumentInfo ask_driver(const std::string& endpoint, const std::string& campaign, std::optional<labloop::InstrumentKeys> keys) {
  zmq::context_t context;
  labloop::Instrument link(context, "driver", endpoint, labloop::InstrumentTiming{},
                           [](const std::string& line) { std::cerr << line << "\n"; }, std::move(keys));
  return link.hello(campaign);
}

int new_campaign(NewCommand command) {
  namespace fs = std::filesystem;
  const char* const source = "labloop new";
  const labloop::SimulatorCatalogue& catalogue = labloop::sim::catalogue();
  if (command.simulator.empty() == command.endpoint.empty())
    throw labloop::ConfigError(source, "--simulator", "give either --simulator NAME (labloop-sim --list) or --endpoint ADDRESS (a running driver)");
  const labloop::SimulatorSpec* simulator = nullptr;
  if (!command.simulator.empty()) {
    simulator = catalogue.find(command.simulator);
    if (!simulator)
      throw labloop::ConfigError(source, "--simulator", catalogue.unknown(command.simulator));
    if (simulator->unavailable)
      if (const std::string why = simulator->unavailable(); !why.empty()) throw labloop::ConfigError(source, "--simulator", why);
    if (!command.objective.empty() || !command.goal.empty())
      throw labloop::ConfigError(source, command.objective.empty() ? "--goal" : "--objective",
                                 "is for --endpoint: a simulator's objectives and goals are known (edit the file to choose another)");
  } else if (command.goal.empty()) {
    throw labloop::ConfigError(source, "--goal", "say whether larger is better, --goal maximize or --goal minimize: a driver does not declare it");
  }
  if (command.file.empty()) throw labloop::ConfigError("labloop new", "FILE", "is empty: name the campaign file to write (e.g. oven.json)");
  const fs::path path(command.file);
  if (std::error_code ec; fs::exists(fs::symlink_status(path, ec)))
    throw labloop::Error(fmt::format("{} already exists; labloop new never writes over a file: give another name, or remove it first", command.file));
  labloop::StarterOptions& options = command.starter;
  if (options.name.empty()) options.name = labloop::campaign_name_from(path.stem().string());
  // A path given relative to here, as the campaign file names it: relative to its own folder.
  const auto relative_to_file = [&](const std::string& given) {
    if (!fs::path(given).is_relative()) return given;
    std::error_code ec;
    const fs::path folder = fs::absolute(path, ec).parent_path();
    const fs::path relative = fs::relative(fs::absolute(given, ec), folder, ec);
    return !ec && !relative.empty() ? relative.string() : given;
  };
  if (!options.candidates.empty()) options.candidates = relative_to_file(options.candidates);
  std::optional<labloop::InstrumentKeys> keys;
  if (options.server_public_key.empty() != options.client_keys.empty())
    throw labloop::ConfigError(source, options.server_public_key.empty() ? "--server-key" : "--client-keys",
                               "an encrypted driver needs both --server-key (its public key) and --client-keys (this controller's key pair)");
  if (!options.server_public_key.empty()) {
    if (simulator) throw labloop::ConfigError(source, "--server-key", "is for --endpoint: labloop starts a simulator itself");
    keys = labloop::InstrumentKeys{labloop::read_public_key(options.server_public_key), labloop::read_checked_key_pair(options.client_keys)};
    options.server_public_key = relative_to_file(options.server_public_key);
    options.client_keys = relative_to_file(options.client_keys);
  }
  std::string text;
  if (simulator) {
    text = labloop::starter_campaign(*simulator, options);
  } else {
    if (options.dim != 0) throw labloop::ConfigError(source, "--dim", "is for a simulator; a driver declares its own inputs");
    // As a campaign file's endpoint is checked: a mistake on this command line, not a driver that does not answer.
    if (const std::string problem = labloop::endpoint_problem(command.endpoint, labloop::EndpointUse::connect); !problem.empty())
      throw labloop::ConfigError(source, "--endpoint", problem);
    const labloop::InstrumentInfo info = ask_driver(command.endpoint, options.name.empty() ? "labloop-new" : options.name, keys);
    // A welcome may list no outputs; then there is no objective to choose, and the messages below
    // named an empty list ("the driver measures : choose the objective").
    if (info.outputs.empty())
      throw labloop::ConfigError(source, "--endpoint",
                                 fmt::format("the driver at {} declares no outputs (its welcome's \"outputs\" is empty): no campaign can use it; "
                                             "fix the driver (docs/writing-a-driver.md)",
                                             labloop::printable(command.endpoint)));
    std::string objective = command.objective;
    if (objective.empty() && info.outputs.size() == 1) objective = info.outputs.front();
    if (objective.empty())
      throw labloop::ConfigError(source, "--objective",
                                 fmt::format("the driver measures {}: choose the objective with --objective NAME", fmt::join(info.outputs, ", ")));
    text = labloop::starter_campaign(info, command.endpoint, {.output = objective, .maximize = command.goal == "maximize"}, options);
  }
  // Written beside the destination and checked there (relative paths resolve as they will), then
  // linked to its name, which fails rather than replace a file made meanwhile.
  const fs::path partial = path.string() + ".labloop-new";
  labloop::write_whole_file(partial.string(), text, "the new campaign file");
  try {
    labloop::CampaignConfig config;
    std::string pool;
    try {
      config = labloop::load_campaign_config(partial.string(), catalogue);
      // A pool's rows are checked against the parameters now, as validate would (columns, space, repeats).
      if (!config.candidates.empty())
        pool = fmt::format("; candidates: {} rows of {}", labloop::read_candidates(config).pool.size(), config.candidates);
    } catch (const labloop::ConfigError& e) {
      // A candidates file that does not fit, or what a driver declares that a campaign file cannot
      // hold: said under the name the file would have had (it was not written).
      std::string why = e.what();
      for (size_t at = why.find(partial.string()); at != std::string::npos; at = why.find(partial.string(), at))
        why.replace(at, partial.string().size(), command.file);
      const std::string option = e.json_path().rfind("/candidates", 0) == 0 ? "--candidates" : simulator ? "--simulator" : "--endpoint";
      throw labloop::ConfigError("labloop new", option, fmt::format("{} was not written: {}", command.file, why));
    }
    std::error_code ec;
    fs::create_hard_link(partial, path, ec);
    if (ec) throw labloop::Error(fmt::format("cannot write {}: {}", command.file, ec.message()));
    fs::remove(partial, ec);
    std::vector<std::string> objectives;
    for (const auto& o : config.objectives) objectives.push_back(fmt::format("{} ({})", o.name, o.goal == labloop::Goal::maximize ? "maximize" : "minimize"));
    fmt::print("wrote {}: campaign \"{}\" on {} {}, {} parameter{}, {} {}, budget {} experiments{}\n", command.file, config.name,
               simulator ? "simulator" : "the driver at", simulator ? simulator->name : command.endpoint, config.parameters.size(),
               config.parameters.size() == 1 ? "" : "s", config.objectives.size() == 1 ? "objective" : "objectives", fmt::join(objectives, ", "),
               config.budget.experiments, pool);
    fmt::print("next: edit it (narrow the ranges{}, the budget), then labloop validate {} and labloop run {}\n",
               simulator ? "" : " to this campaign's: they are the driver's own limits", labloop::printable(labloop::shell_word(command.file)),
               labloop::printable(labloop::shell_word(command.file)));
  } catch (...) {
    std::error_code ec;
    fs::remove(partial, ec);
    throw;
  }
  return 0;
}

// `labloop status DIR`: where the campaign stands, for a person (or with --json, a script).
// Exit 0 whatever the phase: the phase is the answer, not a failure.
int status(const std::string& where, bool json) {
  const labloop::CampaignOverview s = labloop::campaign_overview(where, labloop::sim::catalogue());
  if (json) {
    fmt::print("{}\n", s.to_json().dump(2));
    return 0;
  }
  std::string out;
  const auto settings = [&s](const nlohmann::json& params) {
    std::vector<std::string> parts;
    for (const std::string& name : s.parameters) {
      if (!params.contains(name)) continue;
      const nlohmann::json& value = params[name];
      parts.push_back(fmt::format("{} = {}", name, value.is_number_float() ? fmt::format("{:.6g}", value.get<double>())
                                                   : value.is_string()     ? value.get<std::string>()
                                                                           : value.dump()));
    }
    return labloop::cli::fit_to_width(fmt::format("{}", fmt::join(parts, ", ")), labloop::cli::kMostShownChars);
  };
  // Resume refuses a journal with problems (listed below, and by verify).
  const std::string go_on = s.problems.empty() ? fmt::format("`labloop resume {}` continues it", labloop::path_word(s.directory))
                                               : std::string("`labloop resume` refuses it until the problems below are dealt with");
  std::string phase;
  switch (s.phase) {
    case labloop::CampaignPhase::running: phase = "running"; break;
    // The journal's words hold an error's text, which may quote what an instrument sent.
    case labloop::CampaignPhase::finished: phase = "finished: " + labloop::cli::printable(s.finish_reason); break;
    case labloop::CampaignPhase::paused: phase = labloop::cli::printable(s.finish_reason); break;
    case labloop::CampaignPhase::error:
      phase = fmt::format("stopped by an {}; fix the cause, then {}", labloop::cli::printable(s.finish_reason), go_on);
      break;
    case labloop::CampaignPhase::interrupted:
      phase = fmt::format("interrupted (not running and not finished: killed, crashed or the machine went down); {}", go_on);
      break;
  }
  // Who asked is free text from a console or a file: shown printable, and within a line's width.
  if (s.stop_request && s.phase != labloop::CampaignPhase::interrupted)
    phase += labloop::cli::fit_to_width(
        labloop::cli::printable(fmt::format(" ({}asked from the {} by {}{})", s.phase == labloop::CampaignPhase::running ? "stopping: " : "",
                                            s.stop_request->source.empty() ? "unknown" : s.stop_request->source,
                                            s.stop_request->by.empty() ? "someone unnamed" : s.stop_request->by,
                                            s.stop_request->reason.empty() ? "" : ": " + s.stop_request->reason)),
        labloop::cli::kMostShownChars);
  fmt::format_to(std::back_inserter(out), "{}campaign \"{}\" in {}: {}\n", s.dry_run ? "dry run (every instrument a stand-in, no result measured) of " : "", s.campaign,
             s.directory, phase);
  for (const std::string& note : s.notes) fmt::format_to(std::back_inserter(out), "note: {}\n", labloop::cli::printable(note));
  fmt::format_to(std::back_inserter(out), "started {}{}; last event {}\n", s.started_at, s.labloop_version.empty() ? "" : " (labloop " + s.labloop_version + ")", s.last_event_at);
  fmt::format_to(std::back_inserter(out), "experiments: {} of {} used — {} result{}, {} failed{}; {} open{}\n", s.used, s.budget, s.results,
                 s.results == 1 ? "" : "s", s.failed,
                 s.failed_uncounted == 0 ? ""
                                         : fmt::format(" (and {} attempt{} retried or never run, not counted; results.csv lists {} as failed rows)",
                                                       s.failed_uncounted, s.failed_uncounted == 1 ? "" : "s", s.failed_uncounted == 1 ? "it" : "them"),
                 s.open.size(), s.hours > 0 ? fmt::format("; time budget {:g} h", s.hours) : "");
  if (s.phase == labloop::CampaignPhase::running) {
    std::vector<std::string> shown;
    for (const labloop::InstrumentOverview& i : s.instruments) {
      std::string line = fmt::format("{} {}", i.name, i.manual ? "(a person)" : labloop::instrument_state_name(i.state));
      if (!i.manual && i.state == labloop::InstrumentState::ready && !i.driver.empty())
        line += i.capacity > 0 ? fmt::format(" ({} {}, {} of {} running)", i.driver, i.version, i.running, i.capacity)
                               : fmt::format(" ({} {}, {} running)", i.driver, i.version, i.running);
      if (!i.manual && (i.state == labloop::InstrumentState::lost || i.state == labloop::InstrumentState::quarantined))
        line += fmt::format(" since {}: {}", i.since, i.detail);
      else if (!i.manual && i.state == labloop::InstrumentState::ready && !i.detail.empty())
        line += ": " + i.detail;  // answers, but takes nothing: busy
      shown.push_back(std::move(line));
    }
    if (!shown.empty())
      fmt::format_to(std::back_inserter(out), "instruments: {}\n", labloop::cli::fit_to_width(labloop::cli::printable(fmt::format("{}", fmt::join(shown, "; "))),
                                                                 labloop::cli::kMostShownChars));
  }
  constexpr size_t kMostListed = 20;  // a batch of hundreds would bury the rest
  for (size_t i = 0; i < s.open.size() && i < kMostListed; ++i) {
    const labloop::OpenExperiment& e = s.open[i];
    const std::string place = e.instrument.empty() ? "waiting to be sent"
                              : e.manual           ? fmt::format("waiting for a person ({}; labloop pending lists it)", e.instrument)
                                                   : "on " + e.instrument;
    fmt::format_to(std::back_inserter(out), "  {} {} since {}: {}\n", e.id, place, e.since, settings(e.params));
  }
  if (s.open.size() > kMostListed) fmt::format_to(std::back_inserter(out), "  … and {} more (--json lists them all)\n", s.open.size() - kMostListed);
  if (s.best) {
    fmt::format_to(std::back_inserter(out), "best {} = {:.6g} ({}) at {}: {}\n", s.objective, s.best->objective, s.maximize ? "maximize" : "minimize", s.best->experiment,
               settings(s.best->params));
  } else if (s.pareto) {
    std::vector<std::string> names;
    for (const auto& o : s.pareto->objectives) names.push_back(o.name);
    fmt::format_to(std::back_inserter(out), "Pareto set of {}: {} result{}{}\n", fmt::join(names, ", "), s.pareto->members.size(), s.pareto->members.size() == 1 ? "" : "s",
               s.pareto->hypervolume ? fmt::format(", hypervolume {:.6g}", *s.pareto->hypervolume) : "");
    for (size_t i = 0; i < s.pareto->members.size() && i < kMostListed; ++i) {
      std::vector<std::string> values;
      for (double v : s.pareto->members[i].objectives) values.push_back(fmt::format("{:.6g}", v));
      fmt::format_to(std::back_inserter(out), "  {}: {} at {}\n", s.pareto->members[i].experiment, fmt::join(values, ", "), settings(s.pareto->members[i].params));
    }
    if (s.pareto->members.size() > kMostListed) fmt::format_to(std::back_inserter(out), "  … and {} more (results.csv marks them all)\n", s.pareto->members.size() - kMostListed);
  } else {
    fmt::format_to(std::back_inserter(out), "no result that counts yet\n");
  }
  if (!s.problems.empty()) fmt::format_to(std::back_inserter(out), "the journal has {} bookkeeping problem{}: labloop verify {} names them\n", s.problems.size(),
                                      s.problems.size() == 1 ? "" : "s", s.directory);
  // A campaign's name, its folder's, a driver's version or a person's words come from files anyone
  // may have written: shown, never obeyed by the terminal.
  std::fputs(labloop::printable(out, true).c_str(), stdout);
  return 0;
}

// Who ran what, when: each session (the start, each resume), its instruments and experiments.
void print_sessions(const labloop::JournalAudit& audit) {
  std::string out;
  const auto or_unrecorded = [](const std::string& text) { return text.empty() ? std::string("(not recorded)") : text; };
  fmt::format_to(std::back_inserter(out), "who ran what:\n");
  for (size_t i = 0; i < audit.sessions.size(); ++i) {
    const labloop::SessionRecord& s = audit.sessions[i];
    fmt::format_to(std::back_inserter(out), "  session {}: {} {} (line {}) by {}@{}, {}\n", i + 1, s.resumed ? "resumed" : "started", s.at, s.line, or_unrecorded(s.os_user),
               or_unrecorded(s.host),
               s.key_fingerprint.empty() ? std::string("no controller key") : fmt::format("controller key \"{}\" {}", s.key_name, s.key_fingerprint));
    for (const labloop::SessionInstrument& inst : s.instruments)
      fmt::format_to(std::back_inserter(out), "    instrument {}: {} {}, driver key {}{}\n", inst.name, or_unrecorded(inst.driver), inst.version,
                 inst.key_fingerprint.empty() ? "not recorded" : inst.key_fingerprint,
                 inst.held_since.empty() ? std::string()
                                         : fmt::format(", held since {}{}", inst.held_since,
                                                       inst.released_at.empty() ? ", not released" : ", released " + inst.released_at));
    if (s.experiments == 0) fmt::format_to(std::back_inserter(out), "    experiments: none proposed\n");
    else
      fmt::format_to(std::back_inserter(out), "    experiments: {} proposed ({} … {}), {} outcome{}\n", s.experiments, s.first_experiment, s.last_experiment, s.outcomes,
                 s.outcomes == 1 ? "" : "s");
  }
  std::fputs(labloop::printable(out, true).c_str(), stdout);
}

// Exit 0 when the journal is intact (finished or not), 1 otherwise; says which line is wrong.
// With `key_file`: 1 also unless every signature is that key's and they cover the last event.
int verify(const std::string& where, const std::string& key_file) {
  std::optional<labloop::PublicKey> key;
  if (!key_file.empty()) {
    // "keys/controller" names keys/controller.pub, as the campaign file's controller_key does.
    const std::filesystem::path file = std::filesystem::exists(key_file) ? std::filesystem::path(key_file) : labloop::public_key_path(key_file);
    try {
      key = labloop::read_public_key(file);
    } catch (const labloop::ConfigError&) {
      throw;
    } catch (const labloop::Error& e) {
      throw labloop::ConfigError("labloop verify", "--key", e.what());  // a mistake on the command line: exit 2
    }
  }
  labloop::JournalAudit audit;
  try {
    audit = key ? labloop::audit_journal(where, *key) : labloop::audit_journal(where);
  } catch (const labloop::JournalError& e) {
    fmt::print("{}\nverify: FAILED\n", labloop::printable(e.what()));
    return 1;
  }
  const std::string name = audit.journal.string();
  // The journal may be whole and still lack what a run wrote before it was replaced.
  if (const auto copies = labloop::displaced_copies(audit.journal); !copies.empty()) {
    for (const auto& copy : copies) fmt::print("note: {}\n", labloop::printable(labloop::displaced_copy_note(copy, audit.events)));
  }
  if (!audit.unknown_kinds_note.empty()) fmt::print("note: {}\n", labloop::printable(audit.unknown_kinds_note));
  // Key names and signers come from files anyone may have written: shown, never obeyed.
  for (const auto& problem : audit.problems) fmt::print("{}: {}\n", labloop::printable(name), labloop::printable(problem));
  for (const auto& problem : audit.signature_problems) fmt::print("{}: {}\n", labloop::printable(name), labloop::printable(problem));
  // The chain and the bookkeeping hold; its configuration must also load, as resume and replay
  // need it (a header edited with its hash recomputed passed).
  std::string config_problem;
  if (audit.problems.empty()) {
    try {
      const auto events = labloop::read_journal_events(audit.journal).events;
      labloop::check_journaled_points(events, labloop::journaled_config(events, name, labloop::sim::catalogue()));
    } catch (const labloop::Error& e) {
      config_problem = e.what();
      fmt::print("{}\n", labloop::printable(config_problem));
    }
  }
  if (!audit.torn_tail.empty())
    // An over-long last line was not left by a crash of labloop's (it never writes one): saying
    // so would send the technician after the wrong cause.
    fmt::print("{}\n  ({}; {})\n", labloop::printable(audit.torn_tail),
               audit.torn_tail_overlong ? "something other than labloop wrote that line" : "a crash cut the last line short",
               audit.events == 0 ? "no campaign was recorded before it: `labloop run` starts one there afresh"
                                 : "`labloop resume` removes it and continues");
  // The campaign's name and its finish reason come from the journal, which anyone may have
  // edited: shown, never obeyed by the terminal (as status and replay show them).
  fmt::print("{}: {} events, hash chain {}; campaign \"{}\": {} proposed, {} results, {} failed, {} open\n", labloop::printable(name), audit.events,
             audit.torn_tail.empty() ? "intact" : "intact up to the torn last line", labloop::printable(audit.campaign), audit.proposed,
             audit.results, audit.failed, audit.open);
  if (audit.finished) fmt::print("finished: {}\n", labloop::printable(audit.finish_reason));
  else if (audit.problems.empty() && config_problem.empty() && labloop::campaign_running(audit.journal))
    fmt::print("not finished: running (its controller holds the journal)\n");
  else if (audit.problems.empty() && config_problem.empty()) fmt::print("not finished: `labloop resume {}` continues it\n", labloop::path_word(where));
  if (key) print_sessions(audit);
  std::vector<std::string> signers;
  for (const auto& signer : audit.signers)
    signers.push_back(fmt::format("{} (\"{}\")", labloop::printable(signer.fingerprint), labloop::printable(signer.name)));
  if (!key && audit.signatures > 0)
    fmt::print("signed by {}: {} signature{} (use --key to prove it)\n", fmt::join(signers, ", "), audit.signatures, audit.signatures == 1 ? "" : "s");
  if (key && audit.intact())
    fmt::print("signed by {} (\"{}\"): {} signature{}, the last covering line {} of {}\n", key->fingerprint(), labloop::printable(key->name), audit.signatures,
               audit.signatures == 1 ? "" : "s", audit.signed_through, audit.events);
  if (!audit.intact() || !config_problem.empty()) {
    fmt::print("verify: FAILED\n");
    return 1;
  }
  fmt::print("verify: ok (head {})\n", audit.head_hash);
  return 0;
}

// Ctrl-C / SIGTERM / SIGHUP (the terminal or ssh session closed): the first asks the campaign to
// stop proposing and let running experiments finish; a second one ends the program at once. Every journal line is already on disk, so the
// journal stays consistent either way. Signals are taken by a dedicated thread (sigtimedwait),
// so nothing async-signal-unsafe runs in a handler.
class StopOnSignal {
 public:
  StopOnSignal() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    watcher_ = std::jthread([this](std::stop_token done) {
      const timespec tick{0, 200 * 1000 * 1000};
      int count = 0;
      while (!done.stop_requested()) {
        const int signal = sigtimedwait(&set_, nullptr, &tick);
        if (signal <= 0) continue;
        if (++count == 1) {
          std::fputs("\nstopping: no new experiments; waiting for running ones (Ctrl-C again to quit at once)\n", stderr);
          source_.request_stop();
        } else {
          std::fputs("\nstopped at once; the journal holds every event so far\n", stderr);
          std::_Exit(130);
        }
      }
    });
  }
  ~StopOnSignal() {
    watcher_.request_stop();
    watcher_.join();
    pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
  }
  std::stop_token token() const { return source_.get_token(); }

 private:
  sigset_t set_{};
  std::stop_source source_;
  std::jthread watcher_;
};

// The objectives after the first, which progress lines show beside it.
std::vector<std::string> other_objectives(const labloop::CampaignConfig& config) {
  std::vector<std::string> names;
  for (size_t i = 1; i < config.objectives.size(); ++i) names.push_back(config.objectives[i].name);
  return names;
}

std::vector<std::string> parameter_order(const labloop::CampaignConfig& config) {
  std::vector<std::string> names;
  for (const auto& parameter : config.parameters) names.push_back(parameter.name);
  return names;
}

// 0 finished, 130 stopped by the operator, 3 paused (too many failures), 4 no instruments left.
int exit_code(const labloop::CampaignSummary& summary) {
  switch (summary.stop) {
    case labloop::StopReason::stopped_by_operator: return 130;
    case labloop::StopReason::paused: return 3;
    case labloop::StopReason::no_instruments_left: return 4;
    case labloop::StopReason::budget_reached:
    case labloop::StopReason::target_reached:
    case labloop::StopReason::time_budget_reached:
    case labloop::StopReason::candidates_exhausted: return 0;
  }
  return 0;
}

// Checked by the commands that run a campaign, once main() has raised the limit as far as
// allowed, and before anything is written: with too few, a start failed part-way.
void refuse_too_few_files(const labloop::CampaignConfig& config) {
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY)
    labloop::refuse_too_few_open_files(config, static_cast<std::uint64_t>(files.rlim_cur));
}

int run(const std::string& file, const std::string& output, bool dry_run, double grace_s) {
  const auto config = labloop::load_campaign_config(file, labloop::sim::catalogue());
  refuse_too_few_files(config);
  labloop::CampaignOptions options;
  options.dry_run = dry_run;
  options.stop_grace = std::chrono::milliseconds(static_cast<long long>(grace_s * 1000));
  if (!output.empty()) options.output = output;
  StopOnSignal signals;
  options.stop = signals.token();
  labloop::cli::ProgressDisplay progress(stdout, isatty(STDOUT_FILENO) != 0, config.objective.name, other_objectives(config),
                                         parameter_order(config), config.instruments.size());
  if (dry_run) std::fputs("dry run: every instrument is replaced by a simulated stand-in; no hardware moves\n", stdout);
  for (const std::string& note : dataset_descriptor_notes(config)) fmt::print("descriptors: {}\n", note);
  for (const std::string& note : labloop::unanswerable_choices(config)) fmt::print("note: {}\n", note);
  const auto where = labloop::campaign_output(config, options);
  std::error_code unreadable;  // a path the system cannot look at (too long) is no journal: run_campaign says why
  const bool fresh = !std::filesystem::exists(where / "journal.jsonl", unreadable);
  labloop::CampaignSummary summary;
  try {
    summary = labloop::run_campaign(config, options, &progress);
  } catch (const std::exception& e) {
    progress.flush();  // what it showed first, then why it stopped
    // The folder may be gone by now (moved or deleted while the campaign ran): that the journal
    // is not where it was does not mean none was written.
    if (progress.saw_events() && !std::filesystem::exists(where / "journal.jsonl", unreadable)) {
      std::cerr << "error: " << labloop::cli::printable(e.what(), true) << "\n";
      // The folder is there, its journal not: renamed or deleted on its own (the error above says
      // where what it wrote was saved), not a folder moved away.
      if (std::filesystem::is_directory(where, unreadable))
        std::cerr << "the campaign had started, but its journal.jsonl in " << where.string() << " was renamed or deleted while it ran: "
                  << "put it back as journal.jsonl, then `labloop resume " << labloop::path_word(where.string()) << "`\n";
      else
        std::cerr << "the campaign had started, but its folder " << where.string() << " is no longer there (moved or deleted while it ran?): "
                  << "its journal holds every event up to the stop; run `labloop resume` on the folder where it is now\n";
      return 1;
    }
    if (!fresh || std::filesystem::exists(where / "journal.jsonl", unreadable)) throw;
    std::cerr << "error: " << labloop::cli::printable(e.what(), true) << "\n"
              << "nothing was started and no journal was written: fix the cause, then run the same command again (" << where.string()
              << " may be reused)\n";
    if (dynamic_cast<const labloop::ConfigError*>(&e)) return 2;
    return options.stop.stop_requested() ? 130 : 1;  // Ctrl-C while the instruments were starting
  }
  progress.print_summary(summary);
  return exit_code(summary);
}

int resume(const std::string& where, double grace_s, std::optional<labloop::BudgetExtendedEvent> raise = std::nullopt,
           std::shared_ptr<labloop::Journal> held_journal = nullptr) {
  const auto path = labloop::journal_path_of(where);
  // The events only for the configuration: the campaign reads the journal again as it resumes, and
  // a long one's events held here as well doubled what resuming it took.
  auto [config, dry_run] = [&] {
    const auto events = labloop::read_campaign_journal(path).events;
    return std::pair{labloop::journaled_config(events, path.string(), labloop::sim::catalogue()),
                     events.front().as<labloop::CampaignStartedEvent>()->dry_run};  // journaled_config checked it is one
  }();
  refuse_too_few_files(config);
  // What `verify` would reject in the bookkeeping (two outcomes for one experiment, a result for
  // one never proposed): said, not acted on; the campaign goes on from the journal's record.
  const labloop::JournalAudit audit = labloop::audit_journal(where);
  if (!audit.problems.empty())
    fmt::print("warning: `labloop verify` finds {} problem{} in this journal's bookkeeping (first: {}); continuing from its record\n",
               audit.problems.size(), audit.problems.size() == 1 ? "" : "s", labloop::printable(audit.problems.front()));
  if (!audit.unknown_kinds_note.empty()) fmt::print("note: {}\n", labloop::printable(audit.unknown_kinds_note));
  labloop::CampaignOptions options;
  if (raise) {
    config.budget.experiments = raise->experiments;
    if (raise->hours) config.budget.hours = *raise->hours;
    options.budget_raise = std::move(raise);
    options.held_journal = std::move(held_journal);
  }
  options.resume = true;
  options.output = std::filesystem::is_directory(where) ? where : path.parent_path().string();
  options.dry_run = dry_run;
  options.stop_grace = std::chrono::milliseconds(static_cast<long long>(grace_s * 1000));
  StopOnSignal signals;
  options.stop = signals.token();
  labloop::cli::ProgressDisplay progress(stdout, isatty(STDOUT_FILENO) != 0, config.objective.name, other_objectives(config),
                                         parameter_order(config), config.instruments.size());
  labloop::CampaignSummary summary;
  try {
    summary = labloop::run_campaign(config, options, &progress);
  } catch (const labloop::Error& e) {
    if (!options.stop.stop_requested()) throw;
    // Ctrl-C while the instruments were starting (journaled as the operator's stop) or while the
    // planner was rebuilt (nothing journaled): exits as a stop, as run does.
    progress.flush();
    std::cerr << "error: " << labloop::cli::printable(e.what(), true) << "\n";
    return 130;
  }
  progress.print_summary(summary);
  return exit_code(summary);
}

// Raises the budget of a stopped or finished campaign by journaling it, then resumes it.
int extend(const std::string& where, int more_experiments, double more_hours, double grace_s) {
  if (more_experiments <= 0 && more_hours <= 0)
    throw labloop::ConfigError("labloop extend", "--experiments", "say how much more: --experiments N and/or --hours H");
  const auto path = labloop::journal_path_of(where);
  if (labloop::campaign_running(path))
    throw labloop::Error(fmt::format("{}: the campaign is running; stop it (Ctrl-C), then extend it", path.string()));
  // Read before the journal is opened for writing, which would make one (and its lock file) under
  // a mistyped name.
  (void)labloop::read_journal_events(path);
  // Held from the reading to the raise: two extends at once each raised the budget they had read
  // (30 + 3 and 30 + 5 gave 35), so one raise was lost.
  auto journal = std::make_shared<labloop::Journal>(path);
  // Said, as resume says it: opening cut it away.
  if (!journal->removed_torn_tail().empty()) fmt::print(stderr, "note: {} (removed; it was never acted on)\n", journal->removed_torn_tail());
  const auto events = labloop::read_campaign_journal(path).events;
  const auto config = labloop::journaled_config(events, path.string(), labloop::sim::catalogue());
  const auto state = labloop::CampaignState::fold(events);
  if (state.finished() && state.finish_reason() == "target reached")
    throw labloop::Error(fmt::format("{}: the campaign reached its target (stop.target {}); with more budget it would stop again at once. "
                                     "To aim {}, start a new campaign with a {} stop.target whose prior_results is this one's "
                                     "results.csv (docs/howto-continue.md)",
                                     path.string(), config.target.value_or(0), labloop::further_than_target(config),
                                     labloop::further_than_target(config)));
  // More time for a campaign that has run its every experiment would resume it only to finish at
  // once, "continuing" and exit 0 with nothing done.
  if (more_experiments <= 0 && state.finished() && state.finish_reason() == "budget reached")
    throw labloop::ConfigError("labloop extend", "--hours",
                               fmt::format("{} has run all {} experiments of its budget; more hours give it time, not experiments: "
                                           "add --experiments N",
                                           path.string(), config.budget.experiments));
  if (state.finished() && state.finish_reason() == "every candidate has been tried")
    throw labloop::Error(fmt::format("{}: every row of its candidates file ({}) has been tried; a larger budget would propose nothing. New "
                                     "settings to try make a new campaign (its prior_results may be this one's results.csv)",
                                     path.string(), config.candidates));
  labloop::BudgetExtendedEvent raised;
  // Summed in 64 bits: --experiments accepts any int, and the sum must not wrap past the limit.
  const long long total = static_cast<long long>(config.budget.experiments) + std::max(more_experiments, 0);
  if (total > labloop::kMaxExperiments)
    throw labloop::ConfigError("labloop extend", "--experiments",
                               fmt::format("a budget is at most {} experiments (asked for {})", labloop::kMaxExperiments, total));
  // The limit a new campaign meets (campaign_config.cpp), which a raise must not get round.
  const long long modelled = total + static_cast<long long>(state.prior_results().size());
  if (more_experiments > 0 && config.planner.kind == "bayesian" && modelled > labloop::kMostModelledResults)
    throw labloop::ConfigError("labloop extend", "--experiments",
                               fmt::format("{}: the bayesian planner learns from at most {} results ({} experiments{} asked for); start a "
                                           "new campaign whose prior_results is this one's results.csv, keeping the rows nearest the question",
                                           path.string(), labloop::kMostModelledResults, total,
                                           state.prior_results().empty() ? std::string()
                                                                         : fmt::format(" and {} prior results", state.prior_results().size())));
  raised.experiments = static_cast<int>(total);
  if (more_hours > 0) {
    // The time budget counts from the campaign's first start, as resume counts it: the time since
    // then, never less than the journal covers (a clock behind it) nor than nothing (a clock ahead
    // when it started). More hours are more from now, or from what is left of the budget: a
    // campaign that ran out of time on Friday gets H hours on Monday, not what was left of Friday.
    double elapsed = 0;
    if (const auto first = labloop::parse_journal_time(state.started_at())) {
      auto covered = std::chrono::system_clock::now() - *first;
      if (const auto end = labloop::parse_journal_time(state.latest_time())) covered = std::max(covered, *end - *first);
      elapsed = std::max(0.0, std::chrono::duration<double>(covered).count() / 3600);
    }
    raised.hours = std::max(config.budget.hours, elapsed) + more_hours;
    if (*raised.hours > labloop::kMaxSeconds / 3600)
      throw labloop::Error(fmt::format("a time budget is at most {:g} hours (asked for {:g})", labloop::kMaxSeconds / 3600, *raised.hours));
  }
  raised.by = labloop::os_user_name();
  // What resume reads before it starts (campaign.cpp), read before the raise is journaled: an
  // extension that cannot continue leaves the budget as it was, or each attempt would raise it again.
  const std::filesystem::path folder = std::filesystem::is_directory(where) ? std::filesystem::path(where) : path.parent_path();
  (void)labloop::journaled_candidates(events, config, folder);
  if (!config.controller_key.empty()) labloop::refuse_another_signing_key(config, events, labloop::read_controller_key(config));
  if (!events.front().as<labloop::CampaignStartedEvent>()->dry_run)  // journaled_config checked it is one
    for (const auto& ic : config.instruments)
      if (!ic.keys && !ic.keys_error.empty()) throw labloop::InstrumentError(ic.name, ic.keys_error);
  // Journaled by the campaign once every instrument has answered, the journal held until then.
  fmt::print("budget: {} → {} experiments{}, recorded once every instrument answers; continuing\n", config.budget.experiments,
             raised.experiments, raised.hours ? fmt::format(", time budget {:.4g} h from the first start", *raised.hours) : "");
  return resume(where, grace_s, raised, std::move(journal));
}

// Exit 0 when every recorded proposal is reproduced, 1 otherwise (listing each difference).
// results.csv, convergence.svg and pareto.svg again from the journal, as the campaign writes them:
// after they were deleted, edited by hand or damaged (docs/outputs.md).
// Gives back the instruments a stopped or finished campaign still holds: its driver was down when
// the campaign released them at its stop, and every other campaign is refused until the lease ends.
int release(const std::string& where) {
  const auto path = labloop::journal_path_of(where);
  if (labloop::campaign_running(path))
    throw labloop::Error(fmt::format("{}: the campaign is running; it releases its instruments when it stops", path.string()));
  const auto events = labloop::read_campaign_journal(path).events;
  const auto config = labloop::journaled_config(events, path.string(), labloop::sim::catalogue());
  const auto id = labloop::CampaignState::fold(events).campaign_id();
  // Nothing to give back is no failure (exit 0, as for simulators and people): exit 1 means an
  // instrument could not be reached (docs/protocol.md §12).
  if (!id) {
    fmt::print("{}: this campaign is from before campaign ids (labloop 0.2): it never held an instrument; nothing to release\n",
               labloop::printable(path.string()));
    return 0;
  }
  int failed = 0;
  const auto outcomes = labloop::release_instruments(config, *id);
  for (const labloop::InstrumentRelease& r : outcomes) {
    using Outcome = labloop::InstrumentRelease::Outcome;
    switch (r.outcome) {
      case Outcome::released: fmt::print("{}: released\n", r.instrument); break;
      case Outcome::not_held: fmt::print("{}: not held by this campaign ({})\n", r.instrument, labloop::printable(r.detail)); break;
      case Outcome::held_by_another:
        fmt::print("{}: not held by this campaign: {}\n", r.instrument, labloop::printable(r.detail));
        break;
      case Outcome::unreachable:
        ++failed;
        fmt::print("{}: not released: {}\n", r.instrument, labloop::printable(r.detail));
        break;
    }
  }
  if (outcomes.empty()) fmt::print("{}: no instrument at an endpoint; simulators and people hold nothing\n", labloop::printable(path.string()));
  if (failed > 0)
    fmt::print("{} instrument{} not released: start {} driver{}, then `labloop release {}` again (or wait for the lease to end)\n", failed,
               failed == 1 ? "" : "s", failed == 1 ? "its" : "their", failed == 1 ? "" : "s", labloop::path_word(where));
  return failed > 0 ? 1 : 0;
}

int report(const std::string& where) {
  const auto path = labloop::journal_path_of(where);
  if (labloop::campaign_running(path))
    throw labloop::Error(fmt::format("{}: the campaign is running: its controller writes these files as it runs (within a second of each event, later for a large campaign)",
                                     path.string()));
  const auto events = labloop::read_campaign_journal(path).events;
  const auto config = labloop::journaled_config(events, path.string(), labloop::sim::catalogue());
  const std::filesystem::path folder = std::filesystem::is_directory(where) ? std::filesystem::path(where) : path.parent_path();
  const labloop::CampaignRecord record = labloop::write_campaign_reports(config, labloop::CampaignState::fold(events), folder);
  fmt::print("wrote {} and {}{} from the journal ({} experiment{})\n", labloop::printable((folder / "results.csv").string()),
             labloop::printable((folder / "convergence.svg").string()),
             config.objectives.size() > 1 ? " and " + labloop::printable((folder / "pareto.svg").string()) : std::string(),
             record.experiments.size(), record.experiments.size() == 1 ? "" : "s");
  return 0;
}

int replay(const std::string& where) {
  const auto path = labloop::journal_path_of(where);
  const auto events = labloop::read_campaign_journal(path).events;
  const auto config = labloop::journaled_config(events, path.string(), labloop::sim::catalogue());
  const auto candidates = labloop::journaled_candidates(events, config, path.parent_path());
  labloop::PlannerContext context{config.space(), config.seed, config.planner, path.string(), config.planner_goals()};
  if (candidates) context.candidates = &candidates->pool;
  const auto planner = labloop::make_planner(context);
  // A signed journal is replayed as the file holds it now: a signature that fails says the
  // journal was changed after it was signed, so what is reproduced is not what was run.
  std::string signature_problem;
  if (!config.controller_key.empty()) {
    const std::filesystem::path public_file = labloop::public_key_path(config.controller_key);
    try {
      signature_problem = labloop::first_failing_signature(events, labloop::read_public_key(public_file));
    } catch (const labloop::Error& e) {
      fmt::print("note: signatures not checked: {}\n", labloop::printable(e.what()));
    }
    if (!signature_problem.empty()) fmt::print("{}: {}\n", labloop::printable(path.string()), labloop::printable(signature_problem));
  }
  const auto report = labloop::replay_journal(events, config, *planner);
  for (const auto& difference : report.differences) fmt::print("{}\n", difference);
  fmt::print("replayed {} planner calls: {} proposals, {} outcomes told; {}\n", report.asks, report.proposals, report.outcomes,
             report.reproduced() ? "every proposal reproduced exactly" : fmt::format("{} proposal(s) differ", report.differences.size()));
  if (report.time_limited > 0)
    fmt::print("note: {} of those calls hit the planner's time limit when first made; their proposals depend on machine speed\n", report.time_limited);
  if (report.replay_time_limited > 0)
    fmt::print("note: {} of those calls hit the planner's time limit while replayed (this machine is busier or slower than the one that ran "
               "them); replay again when it is idle\n", report.replay_time_limited);
  if (!signature_problem.empty())
    fmt::print("replay: FAILED: a signature fails, so the journal replayed is not the one the campaign wrote and signed\n");
  return report.reproduced() && signature_problem.empty() ? 0 : 1;
}

}  // namespace

constexpr rlim_t kFilesWanted = 4096;
constexpr rlim_t kStackWanted = rlim_t{8} << 20;  // Linux's usual default
constexpr rlim_t kStackNeeded = rlim_t{1} << 20;
constexpr std::size_t kThreadStack = std::size_t{2} << 20;
constexpr rlim_t kAddressSpaceNeeded = rlim_t{64} << 20;

// Room for running out of memory in: nlohmann's JSON values allocate while they are destroyed, so
// a bad_alloc thrown deep in reading a long journal threw again from a destructor on its way out,
// and verify, status and report aborted (exit 134) instead of saying "out of memory". The first
// allocation that fails gives this back before it throws, for the unwinding to use.
static std::atomic<void*> g_unwind_reserve = nullptr;  // any thread may be the first to run out
constexpr std::size_t kUnwindReserve = std::size_t{8} << 20;
static void give_back_reserve_and_fail() {
  std::free(g_unwind_reserve.exchange(nullptr));
  throw std::bad_alloc();
}

// Raises a soft limit below `wanted` as far as the hard limit allows; returns the soft limit then
// (RLIM_INFINITY when there is none, or it cannot be read: nothing to refuse).
static rlim_t raise_soft_limit(int resource, rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(resource, &limit) != 0) return RLIM_INFINITY;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min<rlim_t>(limit.rlim_max, wanted);
    ::setrlimit(resource, &limit);
    (void)::getrlimit(resource, &limit);
  }
  return limit.rlim_cur;
}

int main(int argc, char** argv) {
  // A reader of our output that goes away (`| head`, a closed pager) must not end a campaign
  // without a word: writes to it fail instead, and the campaign goes on. A file-size limit
  // (ulimit -f) must fail the write that crosses it, which the journal reports and cuts back,
  // rather than kill the process with a torn last line. Children get default dispositions back
  // (ChildProcess).
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGXFSZ, SIG_IGN);
  // Each instrument takes a few descriptors (its socket, ZeroMQ's signalling, a simulator's pipes
  // and log): under a low limit (ulimit -n 16) connections failed inside ZeroMQ, and instruments
  // that were serving were reported as not answering. The soft limit is raised as far as allowed.
  raise_soft_limit(RLIMIT_NOFILE, kFilesWanted);
  // The planner's linear algebra keeps buffers of up to 128 KiB on the stack: under a small
  // limit (ulimit -s 128) it crashed mid-campaign. Raised where allowed, else refused at once.
  if (const rlim_t stack = raise_soft_limit(RLIMIT_STACK, kStackWanted); stack < kStackNeeded) {
    std::cerr << "error: the stack size limit is " << (stack >> 10) << " KiB (ulimit -s), and labloop needs at least "
              << (kStackNeeded >> 10) << " KiB: raise it (ulimit -s 8192)\n";
    return 1;
  }
  // Threads take their stack size from the limit just raised, 8 MiB of address space each, though
  // none needs more than the planner's 128 KiB buffers: under an address-space limit (ulimit -v
  // 65536) ZeroMQ could not start its threads and aborted. Threads made from here on get 2 MiB,
  // and every example campaign runs in 64 MiB; below that, a message instead of ZeroMQ's abort.
  if (const rlim_t space = raise_soft_limit(RLIMIT_AS, kAddressSpaceNeeded); space < kAddressSpaceNeeded) {
    std::cerr << "error: the address-space limit is " << (space >> 10) << " KiB (ulimit -v), and labloop needs at least "
              << (kAddressSpaceNeeded >> 10) << " KiB, more for large campaigns: raise it (ulimit -v 1048576)\n";
    return 1;
  }
  g_unwind_reserve = std::malloc(kUnwindReserve);
  std::set_new_handler(give_back_reserve_and_fail);
  if (pthread_attr_t attr; ::pthread_attr_init(&attr) == 0) {
    if (::pthread_attr_setstacksize(&attr, kThreadStack) == 0) (void)::pthread_setattr_default_np(&attr);
    ::pthread_attr_destroy(&attr);
  }
  CLI::App app{"labloop: closed-loop autonomous lab controller.\n"
               "Plans experiments, runs them on instruments over ZeroMQ, records every event."};
  app.set_version_flag("--version", fmt::format("labloop {}", labloop::kVersion));
  app.require_subcommand(1);
  std::string file, output;
  bool dry_run = false;

  auto* run_cmd = app.add_subcommand("run", "Run a campaign to its end (budget, target or time limit)");
  run_cmd->add_option("file", file, "Campaign file (JSON)")->required();
  run_cmd->add_option("--output,-o", output, "Output directory (overrides the file's \"output\")")->check(kFolder);
  run_cmd->add_flag("--dry-run", dry_run, "Replace every instrument by a simulated stand-in: check the file end to end");
  double grace_s = 30;
  run_cmd->add_option("--grace", grace_s, "After Ctrl-C/SIGTERM: seconds running experiments get to finish before they are aborted (default 30)")
      ->check(kGraceSeconds);

  auto* validate_cmd = app.add_subcommand("validate", "Check a campaign file without running anything");
  validate_cmd->add_option("file", file, "Campaign file (JSON)")->required();
  bool validate_instruments = false;
  validate_cmd->add_flag("--instruments", validate_instruments,
                         "Also connect to every instrument (starting simulators) and check names, limits and outputs; nothing runs");

  std::string directory;
  auto* new_cmd = app.add_subcommand("new", "Write a starter campaign file for a simulator or a running driver: labloop new buchwald.json --simulator "
                                            "buchwald_a, or labloop new oven.json --endpoint tcp://127.0.0.1:5555 --goal maximize");
  NewCommand new_command;
  new_cmd->add_option("file", new_command.file, "Campaign file to write (never over an existing one)")->required();
  new_cmd->add_option("--simulator", new_command.simulator, "A test function or dataset (labloop-sim --list)");
  new_cmd->add_option("--endpoint", new_command.endpoint, "A running driver's address: the file takes the inputs and outputs it declares");
  new_cmd->add_option("--objective", new_command.objective, "With --endpoint: the output to optimize (default: the driver's only output)");
  new_cmd->add_option("--goal", new_command.goal, "With --endpoint: maximize or minimize the objective")->check(CLI::IsMember({"maximize", "minimize"}));
  new_cmd->add_option("--name", new_command.starter.name, "Campaign name (default: the file's name)")
      ->check(CLI::Validator([](std::string& v) { return v.empty() ? std::string("is empty: leave --name out to name the campaign after its file") : std::string(); },
                             "NAME"));
  new_cmd->add_option("--candidates", new_command.starter.candidates,
                      "A CSV of the only settings to propose (a plate): header = parameter names; checked against the parameters");
  new_cmd->add_option("--server-key", new_command.starter.server_public_key,
                      "With --endpoint, an encrypted driver: its public key file (the campaign file's security section names it)");
  new_cmd->add_option("--client-keys", new_command.starter.client_keys, "With --server-key: this controller's key pair (labloop keys new NAME)");
  new_cmd->add_option("--experiments", new_command.starter.experiments, "Budget: experiments (default 30)")->check(count_up_to(labloop::kMaxExperiments));
  new_cmd->add_option("--dim", new_command.starter.dim, "Dimension, for a test function of any dimension (default: its own)")->check(count_up_to(1000));
  auto* status_cmd = app.add_subcommand("status", "Where a campaign stands: running or not, budget used, what is open, the best result so far");
  bool status_json = false;
  status_cmd->add_option("directory", directory, "Campaign output directory (or its journal.jsonl)")->required();
  status_cmd->add_flag("--json", status_json, "The same as one JSON object, for scripts");
  auto* verify_cmd = app.add_subcommand("verify", "Check a campaign's journal: hash chain, sequence and bookkeeping");
  verify_cmd->add_option("dir", directory, "Campaign output directory (or its journal.jsonl)")->required();
  std::string verify_key;
  verify_cmd->add_option("--key", verify_key,
                         "The controller's public key (controller.pub): prove that key signed the whole journal, and show who ran what");

  auto* resume_cmd = app.add_subcommand("resume", "Continue a campaign after a crash, kill or stop, from its journal");
  resume_cmd->add_option("dir", directory, "Campaign output directory")->required();
  resume_cmd->add_option("--grace", grace_s, "After Ctrl-C/SIGTERM: seconds running experiments get to finish (default 30)")->check(kGraceSeconds);
  int more_experiments = 0;
  double more_hours = 0;
  auto* extend_cmd = app.add_subcommand("extend", "Give a finished or stopped campaign more budget and continue it");
  extend_cmd->add_option("dir", directory, "Campaign output directory")->required();
  extend_cmd->add_option("--experiments", more_experiments, "This many more experiments")->check(count_up_to(1000000));
  extend_cmd->add_option("--hours", more_hours, "This many more hours of time budget")->check(between(1e-6, labloop::kMaxSeconds / 3600));
  extend_cmd->add_option("--grace", grace_s, "After Ctrl-C/SIGTERM: seconds running experiments get to finish (default 30)")->check(kGraceSeconds);
  auto* report_cmd = app.add_subcommand("report", "Write a campaign's results.csv and plots again from its journal (after they were deleted or edited)");
  report_cmd->add_option("dir", directory, "Campaign output directory (or its journal.jsonl)")->required();
  auto* release_cmd = app.add_subcommand("release", "Give back the instruments a stopped or finished campaign still holds (exclusive control: "
                                                     "its driver was down when the campaign ended)");
  release_cmd->add_option("dir", directory, "Campaign output directory (or its journal.jsonl)")->required();
  auto* replay_cmd = app.add_subcommand("replay", "Re-run the planner over a journal and check every proposal is reproduced");
  replay_cmd->add_option("dir", directory, "Campaign output directory (or its journal.jsonl)")->required();

  bool pending_csv = false;
  auto* pending_cmd = app.add_subcommand("pending", "List the experiments waiting for a person (manual instruments), in the campaign's units");
  pending_cmd->add_option("dir", directory, "Campaign output directory")->required();
  pending_cmd->add_flag("--csv", pending_csv, "Print them as a CSV to fill in and give to `labloop enter --csv`");

  labloop::cli::EnterCommand enter;
  auto* enter_cmd = app.add_subcommand("enter", "Enter the result of an experiment run by hand: labloop enter DIR EXPERIMENT yield=71.5 purity=0.93");
  enter_cmd->add_option("dir", enter.directory, "Campaign output directory")->required();
  enter_cmd->add_option("experiment", enter.experiment, "Experiment id (`labloop pending` lists them)");
  enter_cmd->add_option("values", enter.values, "Measured values as NAME=VALUE");
  enter_cmd->add_option("--failed", enter.failed, "The experiment failed: why (instead of values)");
  enter_cmd->add_option("--csv", enter.csv, "Enter several results from a CSV file (header: experiment, outputs, optional failed)");
  enter_cmd->add_option("--by", enter.by, "Who entered the results (default: your user name)");
  enter_cmd->add_option("--correct", enter.correct, "Replace the recorded result of EXPERIMENT by these values, saying why (the campaign must be stopped)");

  labloop::cli::BenchCommand bench;
  auto* bench_cmd = app.add_subcommand("bench",
                                       "Benchmark planners on simulated test functions, or on the datasets with --suite real (no instruments needed)");
  bench_cmd->add_option("--problems", bench.problems, "Functions, e.g. branin hartmann6 rosenbrock:4 (default: the standard set); with --suite goals, the rows "
                        "to run, by label or function (default: all)");
  const std::map<std::string, labloop::cli::BenchSuite> suites{
      {"standard", labloop::cli::BenchSuite::standard}, {"goals", labloop::cli::BenchSuite::goals}, {"real", labloop::cli::BenchSuite::real}};
  // Read as text and checked against the names, so a mistake lists them (CLI11's enum
  // transformer would print its number mapping); turned into the enum after parsing.
  std::string suite_name = "standard";
  bench_cmd->add_option("--suite", suite_name,
                        "A problem set: standard (the default); goals: several objectives, an outcome constraint and noise; real: the "
                        "datasets, lookup tables as pool campaigns (experiments to the top 1 % and to the best row) and scattered ones "
                        "through their emulators (regret: the best emulated mean over the dataset's rows, 8192 Sobol points of the "
                        "emulator's input box (hit-and-run draws on a simplex dataset's fractions) and a compass search from the best 4 of "
                        "them, minus the true value of the best setting evaluated) (docs/benchmarks.md)")
      ->check(CLI::IsMember({"standard", "goals", "real"}));
  bench_cmd->add_option("--planners", bench.planners, "Planner kinds or JSON planner sections (random is always included)");
  // The options' own ranges allow far more than a benchmark can hold: the combined limit is said
  // here, where the ranges are (bench_options.hpp).
  const std::string bench_total = fmt::format("; seeds × planners × the problems' budgets is at most {} evaluations in all",
                                              labloop::cli::kMaxBenchEvaluations);
  bench_cmd->add_option("--seeds", bench.seeds, "Seeds per planner and problem (default 10; the real suite: 40)" + bench_total)
      ->check(count_up_to(100000));
  bench_cmd->add_option("--budget", bench.budget,
                        "Evaluations per run (default: each problem's own; the real suite's emulated datasets: 50)" + bench_total)
      ->check(count_up_to(100000));
  bench_cmd->add_option("--initial", bench.initial, "Initial design size for bayesian planners without their own (default 10; the real suite: 5)")
      ->check(count_up_to(100000));
  bench_cmd->add_option("--jobs", bench.jobs, "Parallel runs (default: all cores)")->check(count_up_to(256));
  bench_cmd->add_option("--batch", bench.batch, "Experiments proposed together per round (q); the initial design is a round of its own (in each problem's label)")
      ->check(count_up_to(1000));
  bench_cmd->add_option("--noise", bench.noise, "Gaussian noise on observations, its standard deviation (regret stays noise-free; in each problem's label)")
      ->check(between(0, 1e100));
  bench_cmd->add_flag("--declare-noise", bench.declare_noise,
                      "Tell the planners each objective's noise, as an objective's \"noise\" in a campaign file does (default: they estimate it)");
  bench_cmd->add_option("--output,-o", bench.output,
                        "Directory for bench.csv and regret.svg, or the real suite's real.csv and real_rows.csv (default: bench-results in the current directory)")->check(kFolder);
  bench_cmd->add_option("--datasets", bench.datasets,
                        "The real suite's datasets: names in the data directory (LABLOOP_DATA_DIR, else the installed or source tree's data; labloop-sim --list) "
                        "or folders (spec.json + data.csv); implies --suite real (default: the lookup tables with a target and four emulated ones)");
  bench_cmd->add_option("--subset", bench.subset, "Real suite, lookup tables: the fraction of each table's rows in a run's pool, drawn per seed (default 1)")
      ->check(between(0.01, 1));
  bench_cmd->add_option("--max", bench.max_experiments,
                        "Real suite, lookup tables: experiments per run at most (a run that never reaches a row counts as --max + 1; default: --budget "
                        "when given, as before --max existed, else 200); seeds × planners × each dataset's --max (or its rows, when fewer) "
                        "or --budget is at most " + std::to_string(labloop::cli::kMaxBenchEvaluations) + " experiments in all")
      ->check(count_up_to(1000000));
  bench_cmd->add_option("--objective", bench.objective,
                        "Real suite: the objective to optimize, by name, in every dataset given (each must have it; default: each dataset's "
                        "first); runs are labelled dataset[objective]");
  bench_cmd->add_flag("--one-hot", bench.one_hot, "Real suite, lookup tables: ignore descriptors.csv (categorical choices one-hot only)");
  bench_cmd->add_flag("--whole-space", bench.whole_space,
                      "Real suite, lookup tables: the planner searches the whole space, as a campaign without a candidates file does, instead of "
                      "choosing among the rows (not with --subset)");

  labloop::cli::KeysCommand keys;
  auto* keys_cmd = labloop::cli::add_keys_command(app, keys);

  labloop::cli::DriverCheckCommand driver_check;
  auto* driver_check_cmd = labloop::cli::add_driver_check_command(app, driver_check);

  labloop::cli::ConsoleCommand console;
  auto* console_cmd = labloop::cli::add_console_command(app, console);

  // A first word that is no verb: CLI11 says only "A subcommand is required" (and with --help
  // after it prints the whole help, exit 0), naming neither the word nor the verbs.
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> verbs;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) verbs.push_back(sub->get_name());
    if (std::find(verbs.begin(), verbs.end(), argv[1]) == verbs.end()) {
      std::cerr << "error: labloop: unknown command \"" << labloop::cli::printable(argv[1]) << "\""
                << labloop::did_you_mean(argv[1], verbs) << "; the commands are " << fmt::format("{}", fmt::join(verbs, ", "))
                << " (labloop --help says what each does)\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 says what is wrong; its own codes (105, 106, 109, …) are no contract of ours: a
    // mistake in the command line is exit 2, as one in a campaign file is. --help is 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (*validate_cmd) return validate(file, validate_instruments);
    if (*new_cmd) return new_campaign(new_command);
    if (*status_cmd) return status(directory, status_json);
    if (*run_cmd) return run(file, output, dry_run, grace_s);
    if (*bench_cmd) {
      bench.seeds_given = bench_cmd->count("--seeds") > 0;
      bench.initial_given = bench_cmd->count("--initial") > 0;
      bench.suite_given = bench_cmd->count("--suite") > 0;
      bench.max_given = bench_cmd->count("--max") > 0;
      bench.suite = suites.at(suite_name);
      return labloop::cli::run_bench(bench);
    }
    if (*verify_cmd) return verify(directory, verify_key);
    if (*resume_cmd) return resume(directory, grace_s);
    if (*replay_cmd) return replay(directory);
    if (*report_cmd) return report(directory);
    if (*release_cmd) return release(directory);
    if (*extend_cmd) return extend(directory, more_experiments, more_hours, grace_s);
    if (*pending_cmd) return labloop::cli::pending(directory, pending_csv);
    if (*enter_cmd) return labloop::cli::enter(enter);
    if (*keys_cmd) return labloop::cli::run_keys(keys);
    if (*driver_check_cmd) return labloop::cli::run_driver_check(driver_check);
    if (*console_cmd) return labloop::cli::run_console(console, labloop::sim::catalogue());
  } catch (const labloop::ConfigError& e) {
    std::cerr << "error: " << labloop::cli::printable(e.what(), true) << "\n";
    // The configuration these verbs only read is the one journaled when the campaign started: one
    // that no longer loads is a damaged (or edited) journal, not a mistake on this command line.
    // (resume, extend and enter act with it: its keys and files are a campaign file's, exit 2.)
    // A mistake on the command line names the verb as its source ("labloop verify: --key: …").
    const bool only_reads_journal = *status_cmd || *verify_cmd || *replay_cmd || *pending_cmd || *report_cmd;
    const bool command_line = e.source().rfind("labloop ", 0) == 0;
    return only_reads_journal && !command_line ? 1 : 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory: labloop could not get the memory it needed (is a limit set, `ulimit -v`?); "
                 "a campaign's journal holds every event up to here\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << labloop::cli::printable(e.what(), true) << "\n";
    return 1;
  }
  return 0;
}
