#include "bayesian_options.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "labloop/model/acquisition.hpp"
#include "labloop/model/hypervolume.hpp"
#include "labloop/model/kernel.hpp"
#include "labloop/model/sobol.hpp"
#include "planners.hpp"

namespace labloop::detail {

BayesianOptions parse_bayesian_options(const PlannerContext& context) {
  check_planner_options(context, {"initial", "initial_design", "acquisition", "beta", "kernel", "candidates", "local_starts", "refit_every", "time_limit_s", "output_transform", "trust_region", "categorical_lengthscale", "additive", "additive_share", "ties", "one_hot_margin", "one_hot_residual", "failure_model", "multi_objective", "noise_dominated", "design_repeats"});
  const nlohmann::json& o = context.config.options;
  const JsonNode node = context.options();
  BayesianOptions options;
  // Not node.child(key): "kind" is not among the options, yet the space's size is its mistake.
  auto fail = [&](const std::string& key, const std::string& reason) -> void { throw ConfigError(context.source, node.path() + "/" + key, reason); };
  // Upper limits keep memory and time per proposal bounded and every value inside an int
  // (docs/config.md lists them).
  auto integer = [&](const char* key, int low, int high, int& out) {
    if (!o.contains(key)) return;
    const bool integral = o[key].is_number_integer() && !(o[key].is_number_unsigned() && o[key].get<unsigned long long>() > static_cast<unsigned long long>(high));
    if (!integral || o[key].get<long long>() < low || o[key].get<long long>() > high)
      fail(key, fmt::format("must be an integer from {} to {}", low, high));
    out = static_cast<int>(o[key].get<long long>());
  };
  auto name = [&](const char* key, const std::vector<std::string>& allowed, std::string& out) {
    if (!o.contains(key)) return;
    if (!o[key].is_string() || std::find(allowed.begin(), allowed.end(), o[key].get<std::string>()) == allowed.end())
      fail(key, fmt::format("must be one of: {}", fmt::join(allowed, ", ")));
    out = o[key].get<std::string>();
  };
  // A choice among fixed names, kept as its enum; the message lists the names in this order.
  auto choice = [&]<typename Enum>(const char* key, const std::vector<std::pair<std::string, Enum>>& allowed, Enum& out) {
    std::vector<std::string> names;
    for (const auto& [text, value] : allowed) names.push_back(text);
    std::string text;
    name(key, names, text);
    for (const auto& [candidate, value] : allowed)
      if (candidate == text) out = value;
  };
  integer("initial", 1, 100000, options.initial);
  integer("candidates", 16, 100000, options.optimizer.candidates);
  integer("local_starts", 0, 1000, options.optimizer.local_starts);
  integer("refit_every", 1, 1000000, options.model.refit_every);
  choice("initial_design", std::vector<std::pair<std::string, InitialDesign>>{{"sobol", InitialDesign::sobol}, {"lhs", InitialDesign::lhs}},
         options.initial_design);
  // "acquisition" and "kernel": a registry name, or {"kind": name, <its options>}; the options are
  // checked by building the acquisition or kernel once, so a mistake is named where it was written.
  auto named_with_options = [&](const char* key, const std::vector<std::string>& allowed, std::string& out, nlohmann::json& out_options) {
    if (!o.contains(key) || !o[key].is_object()) return name(key, allowed, out);
    const JsonNode kind = node.child(key).child("kind");
    if (!kind.value().is_string() || std::find(allowed.begin(), allowed.end(), kind.value().get<std::string>()) == allowed.end())
      kind.fail(fmt::format("must be one of: {}", fmt::join(allowed, ", ")));
    out = kind.value().get<std::string>();
    out_options = o[key];
    out_options.erase("kind");
  };
  named_with_options("acquisition", acquisition_names(), options.acquisition, options.acquisition_options);
  if (o.contains("beta")) {
    if (!o["beta"].is_number() || !(o["beta"].get<double>() > 0 && o["beta"].get<double>() <= 1e6)) fail("beta", "must be a number > 0 and at most 1e6");
    if (options.acquisition_options.contains("beta")) fail("beta", "is given twice: here and in \"acquisition\" (keep one)");
  }
  // "beta" predates per-acquisition options: it is ucb's exploration weight, with the planner's
  // own default of 3 (docs/decisions/0004-ucb-beta-3-default.md), and ignored by the others.
  if (options.acquisition == "ucb" && !options.acquisition_options.contains("beta")) options.acquisition_options["beta"] = o.value("beta", 3.0);
  make_acquisition(options.acquisition, JsonNode(options.acquisition_options, "/planner/acquisition", context.source));

  std::vector<std::string> kernels = kernel_names();
  kernels.push_back("select");
  std::string kernel = "select";
  named_with_options("kernel", kernels, kernel, options.model.kernel_options);
  if (kernel == "select") {
    if (!options.model.kernel_options.empty()) fail("kernel", "select chooses between matern52 and matern32 with their defaults: it takes no options");
  } else {
    options.model.kernel_choice = KernelChoice::fixed, options.model.kernel = kernel;
    make_kernel(kernel, context.space.cube_dim(), JsonNode(options.model.kernel_options, "/planner/kernel", context.source));
  }
  choice("output_transform",
         std::vector<std::pair<std::string, OutputTransform>>{
             {"select", OutputTransform::select}, {"yeo_johnson", OutputTransform::yeo_johnson}, {"none", OutputTransform::none},
             {"half_rank", OutputTransform::half_rank}, {"auto", OutputTransform::automatic}},
         options.model.output_transform);
  // Several objectives: the hypervolume is measured in the models' units, and a power transform
  // bends that geometry (and the improvement the planner expects) differently per objective.
  // Measured on DTLZ2 (d = 6) and BraninCurrin: raw outputs did better (docs/decisions/0008).
  // "auto" is a one-objective rule (decision 0017): with several, it is their default.
  if (context.goals.several_objectives() && (!o.contains("output_transform") || options.model.output_transform == OutputTransform::automatic))
    options.model.output_transform = OutputTransform::none;
  // A stated noise is in result units, which a warp would stretch unequally (model_selection.hpp).
  if (always_warps(options.model.output_transform) &&
      std::any_of(context.goals.noise.begin(), context.goals.noise.end(), [](double sd) { return sd > 0; }))
    fail("output_transform", "warps the results, whose units an objective's \"noise\" is stated in: use \"select\" or \"none\", or "
                             "remove the objective's \"noise\"");
  choice("trust_region", std::vector<std::pair<std::string, TrustRegion>>{{"candidates", TrustRegion::candidates}, {"off", TrustRegion::off}},
         options.optimizer.trust_region);
  choice("categorical_lengthscale",
         std::vector<std::pair<std::string, CategoricalLengthscale>>{{"shared", CategoricalLengthscale::shared},
                                                                     {"per_choice", CategoricalLengthscale::per_choice}},
         options.model.categorical_lengthscale);
  choice("additive",
         std::vector<std::pair<std::string, AdditiveKernel>>{{"auto", AdditiveKernel::automatic}, {"on", AdditiveKernel::on}, {"off", AdditiveKernel::off}},
         options.model.additive);
  choice("additive_share", std::vector<std::pair<std::string, AdditiveShare>>{{"half", AdditiveShare::half}, {"fitted", AdditiveShare::fitted}},
         options.model.additive_share);
  choice("ties", std::vector<std::pair<std::string, Ties>>{{"first", Ties::first}, {"random", Ties::random}}, options.optimizer.ties);
  choice("failure_model", std::vector<std::pair<std::string, FailureModel>>{{"on", FailureModel::on}, {"off", FailureModel::off}},
         options.failure_model);
  choice("design_repeats", std::vector<std::pair<std::string, DesignRepeats>>{{"allow", DesignRepeats::allow}, {"avoid", DesignRepeats::avoid}},
         options.design_repeats);
  choice("noise_dominated",
         std::vector<std::pair<std::string, NoiseDominated>>{{"acquisition", NoiseDominated::acquisition},
                                                             {"space_filling", NoiseDominated::space_filling}},
         options.noise_dominated);
  // Beyond 4 objectives the hypervolume's box decomposition grows too fast: ParEGO by default.
  if (context.goals.objectives > kMaxHypervolumeObjectives) options.multi_objective = MultiObjective::parego;
  choice("multi_objective", std::vector<std::pair<std::string, MultiObjective>>{{"ehvi", MultiObjective::ehvi}, {"parego", MultiObjective::parego}},
         options.multi_objective);
  if (options.multi_objective == MultiObjective::ehvi && context.goals.objectives > kMaxHypervolumeObjectives)
    fail("multi_objective", fmt::format("ehvi handles at most {} objectives (this campaign has {}); use \"parego\"", kMaxHypervolumeObjectives,
                                        context.goals.objectives));
  if (o.contains("one_hot_margin")) {
    if (!o["one_hot_margin"].is_number() || !(o["one_hot_margin"].get<double>() >= 0 && o["one_hot_margin"].get<double>() <= 1e6))
      fail("one_hot_margin", "must be a number from 0 to 1e6 (log evidence)");
    options.model.one_hot_margin = o["one_hot_margin"];
  }
  if (o.contains("one_hot_residual")) {
    if (!o["one_hot_residual"].is_boolean()) fail("one_hot_residual", "must be true or false");
    options.model.one_hot_residual = o["one_hot_residual"];
  }
  if (o.contains("time_limit_s")) {
    if (!o["time_limit_s"].is_number() || !(o["time_limit_s"].get<double>() > 0 && o["time_limit_s"].get<double>() <= 86400))
      fail("time_limit_s", "must be a number of seconds > 0 and at most 86400");
    options.time_limit_s = o["time_limit_s"];
  }
  if (context.space.cube_dim() > SobolSequence::kMaxDim)
    fail("kind", fmt::format("bayesian supports at most {} cube dimensions (this space has {}: one per number parameter, one per choice "
                             "of a categorical one); use \"random\"",
                             SobolSequence::kMaxDim, context.space.cube_dim()));
  if (options.initial == 0) options.initial = std::max(5, 2 * context.space.size());
  return options;
}

}  // namespace labloop::detail

namespace labloop {

void set_new_campaign_defaults(PlannerConfig& config, const std::vector<Parameter>& parameters, bool candidate_pool) {
  if (config.kind != "bayesian") return;
  // Where the additive kernel can be on (a categorical parameter, or asked for), its share is fitted.
  const bool categorical = std::any_of(parameters.begin(), parameters.end(), [](const Parameter& p) { return p.type == ParameterType::categorical; });
  const auto additive = config.options.find("additive");
  const bool additive_possible = additive == config.options.end() || *additive == "auto" ? categorical : *additive == "on";
  if (additive_possible && !config.options.contains("additive_share")) config.options["additive_share"] = "fitted";
  // Where equal scores are common (untried options of a categorical parameter, a pool's rows),
  // ties are settled at random: the order of a file's rows or of a parameter's choices then
  // decides nothing (docs/decisions/0014).
  if ((categorical || candidate_pool) && !config.options.contains("ties")) config.options["ties"] = "random";
  // Where design points are snapped to choices or levels, one can fall on a setting already taken:
  // the next space-filling point instead. Journals written before replay as they ran.
  const bool snapped = std::any_of(parameters.begin(), parameters.end(), [](const Parameter& p) { return p.type != ParameterType::continuous; });
  if (snapped && !candidate_pool && !config.options.contains("design_repeats")) config.options["design_repeats"] = "avoid";
  const bool described = std::any_of(parameters.begin(), parameters.end(), [](const Parameter& p) { return !p.descriptor_values.empty(); });
  // Descriptors someone supplied are kept, and each choice keeps an effect of its own beside them
  // (docs/decisions/0016); a file that asks for the choice by evidence (decision 0015) has it.
  if (described && !config.options.contains("one_hot_residual") && !config.options.contains("one_hot_margin"))
    config.options["one_hot_residual"] = true;
  const bool finite = candidate_pool || (!parameters.empty() && std::all_of(parameters.begin(), parameters.end(),
                                                                              [](const Parameter& p) { return p.listed_values() > 0; }));
  // Where a floor of equal worst results has been measured to mislead the model (pools and
  // spaces of listed values: plates at 0 % yield), the worse half goes by rank while there is one
  // (docs/decisions/0017).
  if (finite && !config.options.contains("output_transform")) config.options["output_transform"] = "auto";
  // Where results have been measured to be mostly noise (emulated liquid handling, crystallization:
  // the planner fell behind random search), a space with a continuous or integer parameter and no
  // pool continues its space-filling design while the model says so (docs/decisions/0018).
  if (!finite && !config.options.contains("noise_dominated")) config.options["noise_dominated"] = "space_filling";
  if (!finite || config.options.contains("beta")) return;
  // UCB is the default acquisition; given by name or as an object without its own β, it takes
  // the planner's "beta". Anything else (another acquisition, a malformed value) is left to the
  // options' own checks.
  const auto it = config.options.find("acquisition");
  const bool ucb = it == config.options.end() || (it->is_string() && *it == "ucb") ||
                   (it->is_object() && it->value("kind", nlohmann::json()) == "ucb" && !it->contains("beta"));
  if (ucb) config.options["beta"] = kPoolBeta;
}

}  // namespace labloop
