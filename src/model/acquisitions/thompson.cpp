// Thompson sampling: score the rows of a batch by ONE joint draw from the posterior, negated for
// minimization, so the best row is the minimizer of a plausible objective. Each call draws anew
// from ctx.rng. A draw has no usable gradient (a fresh sample per evaluation is not a smooth
// function of x), so has_gradient() is false and the optimizer must use the batch overload.
#include <stdexcept>

#include "acquisitions.hpp"

namespace labloop::detail {

namespace {

class ThompsonSampling final : public Acquisition {
 public:
  std::string name() const override { return "thompson"; }

  Eigen::VectorXd score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const override {
    return -ctx.model.sample(x, ctx.rng);
  }

  double score(const AcquisitionContext&, const Eigen::VectorXd&, Eigen::VectorXd&) const override {
    throw std::logic_error("acquisition \"thompson\" has no gradient: score a batch instead (has_gradient() is false)");
  }

  bool has_gradient() const override { return false; }
};

}  // namespace

std::unique_ptr<Acquisition> make_thompson(const JsonNode& options) {
  check_options(options, "thompson acquisition", {});
  return std::make_unique<ThompsonSampling>();
}

}  // namespace labloop::detail
