// Worked example of docs/extending.md: a kernel with an option. In the tree it would be
// src/model/kernels/rational_quadratic.cpp, declared in kernels.hpp and listed in that folder's
// registry.cpp; here the unit tests build it and run the kernel conformance checks on it.
//
// Rational quadratic: f(r) = (1 + r²/(2α))^(−α), a mixture of squared exponentials of every
// lengthscale; a small α gives heavy tails (α → ∞ is the squared exponential).
// g(r) = f'(r)/r = −(1 + r²/(2α))^(−α−1), finite at r = 0.
#include <cmath>

#include "ard_kernel.hpp"
#include "kernels.hpp"

namespace labloop::detail {

namespace {

struct RationalQuadratic {
  static constexpr const char* kName = "rational_quadratic";
  double alpha = 1.0;  // an option, fixed once built: the GP fits lengthscales and variance only
  double value(double r) const { return std::pow(1.0 + r * r / (2.0 * alpha), -alpha); }
  void value_and_slope(double r, double& f, double& g) const {
    const double base = 1.0 + r * r / (2.0 * alpha);
    f = std::pow(base, -alpha);
    g = -f / base;
  }
};

}  // namespace

std::unique_ptr<Kernel> make_rational_quadratic_kernel(int dim, const JsonNode& options) {
  check_options(options, "rational_quadratic kernel", {"alpha"});  // unknown keys, with a did-you-mean
  RationalQuadratic profile;
  profile.alpha = number_option(options, "alpha", 1.0, [](double a) { return a > 0 && a <= 1e6; }, "must be a number > 0 and at most 1e6");
  return std::make_unique<ArdKernel<RationalQuadratic>>(dim, profile);
}

}  // namespace labloop::detail
