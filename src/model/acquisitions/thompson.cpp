// Thompson sampling: score the rows of a batch by ONE joint draw from the posterior, negated for
// minimization, so the best row is the minimizer of a plausible objective. Each call draws anew
// from ctx.rng. A draw has no usable gradient (a fresh sample per evaluation is not a smooth
// function of x), so has_gradient() is false and the optimizer must use the batch overload.
#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "acquisitions.hpp"

namespace labloop::detail {

namespace {

class ThompsonSampling final : public Acquisition {
 public:
  std::string name() const override { return "thompson"; }
  double score_unit(const AcquisitionContext& ctx) const override { return ctx.model.output_unit(); }

  // A joint draw over m rows factors an m × m covariance: O(m²) memory, O(m³) time, and 100,000
  // candidates (a legal "candidates") ran out of memory. Past this many rows, the draw is over as
  // many chosen at random, and the others score lowest.
  static constexpr Eigen::Index kMostJointRows = 2048;

  Eigen::VectorXd score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const override {
    if (x.rows() <= kMostJointRows) return -ctx.model.sample(x, ctx.rng);
    std::vector<Eigen::Index> rows(static_cast<std::size_t>(x.rows()));
    std::iota(rows.begin(), rows.end(), Eigen::Index{0});
    std::shuffle(rows.begin(), rows.end(), ctx.rng);
    rows.resize(static_cast<std::size_t>(kMostJointRows));
    std::sort(rows.begin(), rows.end());
    Eigen::MatrixXd drawn(kMostJointRows, x.cols());
    for (Eigen::Index k = 0; k < kMostJointRows; ++k) drawn.row(k) = x.row(rows[static_cast<std::size_t>(k)]);
    const Eigen::VectorXd draw = -ctx.model.sample(drawn, ctx.rng);
    Eigen::VectorXd scores = Eigen::VectorXd::Constant(x.rows(), std::numeric_limits<double>::lowest());
    for (Eigen::Index k = 0; k < kMostJointRows; ++k) scores[rows[static_cast<std::size_t>(k)]] = draw[k];
    return scores;
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
