// Matérn-3/2: f(r) = (1 + √3 r) e^{−√3 r}.
// f'(r) = −3 r e^{−√3 r}, so g(r) = f'(r)/r = −3 e^{−√3 r} (finite at r = 0).
#include <cmath>

#include "ard_kernel.hpp"
#include "kernels.hpp"

namespace labloop::detail {

namespace {

struct Matern32 {
  static constexpr const char* kName = "matern32";
  static constexpr double kSqrt3 = 1.7320508075688772935;
  static double value(double r) { return (1.0 + kSqrt3 * r) * std::exp(-kSqrt3 * r); }
  static void value_and_slope(double r, double& f, double& g) {
    const double e = std::exp(-kSqrt3 * r);
    f = (1.0 + kSqrt3 * r) * e;
    g = -3.0 * e;
  }
};

}  // namespace

std::unique_ptr<Kernel> make_matern32_kernel(int dim, const JsonNode& options) { return make_ard_kernel<Matern32>(dim, options); }

}  // namespace labloop::detail
