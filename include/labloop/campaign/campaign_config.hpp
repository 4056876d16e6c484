#pragma once
// A campaign file, checked at load time. The JSON shape and field names are a contract that
// technicians' files and external tools depend on: extend it, never rename. See docs/config.md.
//
// Every mistake throws ConfigError naming the file, the JSON pointer of the offending value and
// the fix ("campaign.json: /parameters/2/high: must be greater than low (3 >= 5)").
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "labloop/campaign/simulator_catalogue.hpp"
#include "labloop/core/outcome_condition.hpp"
#include "labloop/core/parameter_check.hpp"  // kMaxChoiceChars
#include "labloop/wire/instrument_info.hpp"
#include "labloop/wire/instrument_keys.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/model/space.hpp"

namespace labloop {

// Arrays and objects nested in a campaign file, the top-level object being level 1. The schema
// needs about 4 (planner and simulator options add a few); a deeper file is refused with a
// ConfigError before parsing, since nested JSON is handled recursively and 100,000 levels would
// overflow the stack.
constexpr std::size_t kMaxConfigDepth = 64;
// A campaign file's size: its parameters, choices and constraints fit in a few hundred KB (candidates
// and descriptors are files of their own). Read at most this much plus one byte, so a path to a
// device or a pipe without end (/dev/zero) is refused instead of filling the memory.
constexpr std::size_t kMaxConfigBytes = 16 << 20;

enum class Goal { minimize, maximize };

// Stated limits (docs/config.md): names of campaigns, parameters and instruments, and the longest
// duration any setting may give (365 days; timeouts, delays and the time budget).
// kMaxNameChars (64) and what a name may hold, name_char: core/parameter_check.hpp.
constexpr double kMaxSeconds = 365.0 * 24 * 3600;
constexpr int kMaxExperiments = 1000000;      // budget.experiments
// A new campaign's parameters (journals from before these limits keep what they declared).
constexpr std::size_t kMaxParameters = 1000;
constexpr std::size_t kMaxChoices = 10000;      // per categorical parameter
constexpr double kMaxThreshold = 1e30;          // an objective's threshold, in magnitude
// Results the Bayesian planner learns from in a new campaign: its budget and prior_results rows
// together. Each proposal's time grows with the cube of them and its memory with their square:
// 100,000 prior results ran out of memory before the first proposal.
constexpr int kMostModelledResults = 5000;
constexpr int kMaxQuarantineAfter = 1000000;  // an instrument's quarantine_after

struct Objective {
  std::string name;
  Goal goal = Goal::minimize;
  // The worst value still worth having (in the objective's units and direction): the reference
  // point of the hypervolume. Absent: the planner infers one (docs/objectives.md).
  std::optional<double> threshold;
  // The measurement's standard deviation in the objective's units, when known (the instrument's
  // repeatability): the planner then uses it instead of estimating the noise. Absent: estimated.
  std::optional<double> noise;

  // +1 for minimize, −1 for maximize: what turns a value into "smaller is better".
  double sign() const { return goal == Goal::minimize ? 1.0 : -1.0; }
  // Whether a is better than b.
  bool better(double a, double b) const { return goal == Goal::minimize ? a < b : a > b; }
};

// Stated limits (docs/config.md): objectives, outcome constraints and failure conditions.
constexpr std::size_t kMaxObjectives = 8;
constexpr std::size_t kMaxOutcomeConditions = 32;

// A measured quantity the campaign records ("outputs" in the file): its unit for people and, when
// given, the range a valid value lies in (a value entered by hand outside it is refused).
struct OutputSpec {
  std::string name;
  std::string unit;  // free text shown to people, e.g. "%"; "" when not given
  std::optional<double> low, high;

  nlohmann::json to_json() const;
};

// Stated limit on declared outputs (docs/config.md).
constexpr std::size_t kMaxOutputs = 64;
// A manual instrument's capacity: experiments a person may have waiting at once.
constexpr int kMaxManualCapacity = 1000;

struct InstrumentConfig {
  std::string name;
  std::string endpoint;                                // a running driver (tcp://… or ipc://…), or
  std::string simulator;                               // a labloop-sim function labloop starts itself, or
  bool manual = false;                                 // a person: results come through `labloop enter`
  int capacity = 1;                                    // manual: experiments waiting for the person at once
  nlohmann::json options = nlohmann::json::object();   // simulator options (noise, delay, capacity, dim, seed)
  double timeout_s = 0;                                // per-experiment limit; 0 = none beyond the driver's max_s
  double heartbeat_s = 1.0;                            // ping interval
  int heartbeat_misses = 5;                            // silent intervals before the instrument counts as lost
  double connect_timeout_s = 10.0;                     // how long to wait for `welcome`
  int retries = 2;                 // attempts after a timeout or an interrupted run (same point, new id)
  double retry_backoff_s = 5.0;    // wait before retry k: backoff × 2^(k-1)
  int quarantine_after = 5;        // consecutive failures before no more experiments go there
  double reconnect_s = 300.0;      // how long a lost instrument may take to come back
  std::vector<Parameter> simulated_inputs;  // simulator: what it will declare (from the catalogue; not journaled)
  std::vector<Parameter> simulated_offered;  // simulator: what it can answer (SimulatorSpec::offered_inputs; not journaled)
  std::vector<std::string> simulated_outputs;  // simulator: the outputs it will declare (from the catalogue; empty = "y")
  // "security": {"server_public_key": "keys/reactor-1.pub", "client_keys": "keys/controller"}
  // (paths relative to the campaign file; client_keys defaults to the top-level controller_key).
  // Read and checked when the file loads: the link is CURVE-encrypted (docs/security.md). Only
  // for drivers at an endpoint. Journaled as key file paths made absolute (never the keys), so
  // `labloop resume` connects as the first run did; reading the journaled config needs the files.
  std::optional<InstrumentKeys> keys;
  nlohmann::json security_paths;  // {"server_public_key": ABS, "client_keys": ABS} with keys; else null
  // A journaled config (journaled_config) is read without its key files, since replay and verify
  // need no secret (an auditor's machine has none): then `keys` stays empty, this says why, and
  // the campaign refuses to connect the instrument (resume) with this message.
  std::string keys_error;

  bool is_simulator() const { return !simulator.empty(); }
  bool is_manual() const { return manual; }
};

struct Budget {
  int experiments = 0;
  double hours = 0;  // 0 = no time limit
};

struct CampaignConfig {
  std::string source;  // file name, for messages
  std::string name;
  std::uint64_t seed = 1;
  std::vector<Parameter> parameters;
  // Known linear constraints on the parameters ("constraints": ["x1 + x2 + x3 == 1"]), parsed,
  // checked satisfiable (model/linear_constraints.hpp for the grammar and the limits).
  std::vector<LinearConstraint> constraints;
  // "constraint_sampling": how feasible points are drawn (ConstraintSampling). Absent in a journal
  // (every one written before the field existed): isotropic, as those journals were proposed
  // from. A new campaign file with constraints that does not say gets rounded
  // (load_campaign_config), written into the journal (docs/decisions/0029-rounded-hit-and-run.md).
  std::optional<ConstraintSampling> constraint_sampling;
  Objective objective;               // the first of `objectives` (what one-objective code reads)
  std::vector<Objective> objectives;  // "objectives", or {objective}: never empty once parsed
  bool objectives_listed = false;      // the file said "objectives" (where its errors point)
  std::vector<OutcomeCondition> outcome_constraints;  // a result counts only when all hold
  std::vector<OutcomeCondition> failure_when;         // "failure": {"when": …}: any holds → failed
  std::vector<OutputSpec> outputs;  // declared outputs (units, ranges); the objective may be among them
  PlannerConfig planner;
  std::vector<InstrumentConfig> instruments;
  Budget budget;
  std::optional<double> target;  // stop.target: stop once the best result reaches it
  // stop.pause_on_failures: pause once more than half of at least 5 outcomes since the start
  // failed (docs/reliability.md, "Pause"); false for a search where failing is expected.
  bool pause_on_failures = true;
  std::string output;            // output directory (default "runs/<name>")
  std::string prior_results;     // CSV of results the lab already has ("" = none); see prior_results.hpp
  std::string candidates;        // CSV of the only settings to propose ("" = the whole space); see candidates.hpp
  // The controller's key pair ("controller_key", relative to the campaign file; held here as an
  // absolute path): the journal is signed with it (journal/signing.hpp), and it is the default
  // client_keys of instruments' security sections. "" = not signed.
  std::string controller_key;

  Space space() const {
    return constraints.empty() ? Space(parameters) : Space(parameters, constraints, constraint_sampling.value_or(ConstraintSampling::isotropic));
  }
  // What the planner must know of the objectives and outcome constraints.
  PlannerGoals planner_goals() const;
  // Every output a result must carry: the objectives, then the outputs outcome constraints and
  // failure conditions name (each once).
  std::vector<std::string> required_outputs() const;
  // The declaration of output `name`, or nullptr when the file declares none by that name.
  const OutputSpec* find_output(const std::string& name) const;
  nlohmann::json to_json() const;  // normalized form, as journaled
};

// A controller key pair that can sign a journal: read (read_checked_key_pair: present, private,
// well formed), a signature made and checked, and a .pub beside it, if any, of the same pair.
// Every writer of a signed journal reads its key with this (run, resume, extend, a correction),
// before it writes anything. Throws Error.
KeyPair read_signing_key(const std::filesystem::path& path);

// Parses and validates; throws ConfigError. `source` names the file in messages; `simulators`
// are the simulated instruments a campaign may name (an empty catalogue refuses them all).
CampaignConfig parse_campaign_config(const std::string& text, const std::string& source, const SimulatorCatalogue& simulators);
// Reads `path` (throws ConfigError when it cannot be read) and parses it. A new campaign's file
// only: a categorical parameter naming no descriptors takes those of the dataset simulator serving
// the campaign (SimulatorSpec::descriptors) when the file describes every choice, and a file with
// constraints that names no "constraint_sampling" gets rounded; the journaled config then names
// that file and that sampling, and a journal is parsed with parse_campaign_config, which adopts
// nothing, so campaigns written before this replay and resume as they ran.
CampaignConfig load_campaign_config(const std::string& path, const SimulatorCatalogue& simulators);

// Checks the campaign's parameters against what instrument `index` declared at `welcome`: every
// parameter is an input of the instrument with the same type, bounds inside its limits, categorical
// choices among its choices, and the objective among its outputs. Throws ConfigError naming
// /instruments/<index> when they do not fit. `when` words the advice: a new campaign's file can
// change; a started one's parameters are journaled, so the instrument must change back.
enum class InstrumentFit { new_campaign, started };
void check_instrument_fits(const CampaignConfig& config, size_t index, const InstrumentInfo& info, InstrumentFit when = InstrumentFit::new_campaign);

// A new campaign's objectives take the noise its instruments state (welcome "noise") where the file
// states none and every instrument states one for that objective: the largest of them, since one
// noise serves the model of all their results. Not where a bayesian planner is told to warp the
// results ("output_transform" yeo_johnson or half_rank), which would change their units. Returns a
// line per objective for the log (adopted, or why not); the journaled config then carries the
// noise, so replay and resume use it whatever the drivers say later.
std::vector<std::string> adopt_stated_noise(CampaignConfig& config, const std::vector<const InstrumentInfo*>& instruments);

// One line per categorical parameter listing choices a simulated instrument accepts but cannot
// answer (a dataset's choice no row holds: each experiment proposing one fails), naming them and
// what to do: `validate` and `run` say it (a file `labloop new` wrote before 2026-12-06 lists them).
std::vector<std::string> unanswerable_choices(const CampaignConfig& config);

// What a simulator instrument will declare, without starting it (for `validate` and dry runs),
// as its catalogue entry described it when the file was loaded.
InstrumentInfo simulator_info(const CampaignConfig& config, size_t index);
// What a manual instrument (a person) declares: every campaign parameter as an input, the
// objective as its one required output (other declared outputs may be entered, or not), the
// configured capacity.
InstrumentInfo manual_info(const CampaignConfig& config, size_t index);

}  // namespace labloop
