// Worked example of docs/extending.md: an acquisition with an option. In the tree it would be
// src/model/acquisitions/log_ei_margin.cpp, declared in acquisitions.hpp and listed in that
// folder's registry.cpp; here the unit tests build it and run the acquisition conformance checks.
//
// Log expected improvement over the incumbent less a margin ξ (option "xi", default 0.01): only
// improvements larger than ξ count, which pushes the search away from the incumbent. It is LogEI
// with a lower incumbent, so it delegates to LogEI (scores and gradients alike).
#include "acquisitions.hpp"

namespace labloop::detail {

namespace {

class LogExpectedImprovementMargin final : public Acquisition {
 public:
  explicit LogExpectedImprovementMargin(double xi) : xi_(xi), log_ei_(make_acquisition("log_ei")) {}

  std::string name() const override { return "log_ei_margin"; }

  Eigen::VectorXd score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const override { return log_ei_->score(lowered(ctx), x); }

  double score(const AcquisitionContext& ctx, const Eigen::VectorXd& x, Eigen::VectorXd& grad) const override {
    return log_ei_->score(lowered(ctx), x, grad);
  }

 private:
  AcquisitionContext lowered(const AcquisitionContext& ctx) const { return {ctx.model, ctx.incumbent - xi_, ctx.rng}; }

  double xi_;  // in the units the model predicts (the standardized objective)
  std::unique_ptr<Acquisition> log_ei_;
};

}  // namespace

std::unique_ptr<Acquisition> make_log_ei_margin(const JsonNode& options) {
  check_options(options, "log_ei_margin acquisition", {"xi"});  // unknown keys, with a did-you-mean
  const double xi = number_option(options, "xi", 0.01, [](double v) { return v >= 0 && v <= 1e6; }, "must be a number from 0 to 1e6");
  return std::make_unique<LogExpectedImprovementMargin>(xi);
}

}  // namespace labloop::detail
