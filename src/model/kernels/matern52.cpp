// Matérn-5/2: f(r) = (1 + √5 r + 5r²/3) e^{−√5 r}.
// f'(r) = −(5/3) r (1 + √5 r) e^{−√5 r}, so g(r) = f'(r)/r = −(5/3)(1 + √5 r) e^{−√5 r} (finite at r = 0).
#include <cmath>

#include "ard_kernel.hpp"
#include "kernels.hpp"

namespace labloop::detail {

namespace {

struct Matern52 {
  static constexpr const char* kName = "matern52";
  static constexpr double kSqrt5 = 2.2360679774997896964;
  static double value(double r) { return (1.0 + kSqrt5 * r + (5.0 / 3.0) * r * r) * std::exp(-kSqrt5 * r); }
  static void value_and_slope(double r, double& f, double& g) {
    const double e = std::exp(-kSqrt5 * r);
    f = (1.0 + kSqrt5 * r + (5.0 / 3.0) * r * r) * e;
    g = -(5.0 / 3.0) * (1.0 + kSqrt5 * r) * e;
  }
};

}  // namespace

std::unique_ptr<Kernel> make_matern52_kernel(int dim, const JsonNode& options) { return make_ard_kernel<Matern52>(dim, options); }

}  // namespace labloop::detail
