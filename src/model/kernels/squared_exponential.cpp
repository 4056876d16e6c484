// Squared exponential (RBF): f(r) = e^{−r²/2}, f'(r) = −r e^{−r²/2}, so g(r) = f'(r)/r = −e^{−r²/2}.
#include <cmath>

#include "ard_kernel.hpp"
#include "kernels.hpp"

namespace labloop::detail {

namespace {

struct SquaredExponential {
  static constexpr const char* kName = "squared_exponential";
  static double value(double r) { return std::exp(-0.5 * r * r); }
  static void value_and_slope(double r, double& f, double& g) {
    f = std::exp(-0.5 * r * r);
    g = -f;
  }
};

}  // namespace

std::unique_ptr<Kernel> make_squared_exponential_kernel(int dim, const JsonNode& options) { return make_ard_kernel<SquaredExponential>(dim, options); }

}  // namespace labloop::detail
