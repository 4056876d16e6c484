#pragma once
// Internal: one factory per kernel file, listed in registry.cpp.
#include <memory>

#include "labloop/model/kernel.hpp"

namespace labloop::detail {

std::unique_ptr<Kernel> make_matern52_kernel(int dim, const JsonNode& options);
std::unique_ptr<Kernel> make_matern32_kernel(int dim, const JsonNode& options);
std::unique_ptr<Kernel> make_squared_exponential_kernel(int dim, const JsonNode& options);
// base over the features map · x of each input x (map: features × inputs; mapped.cpp).
std::unique_ptr<Kernel> make_mapped_kernel(std::unique_ptr<Kernel> base, const Eigen::MatrixXd& map);
// ρ · described + (1 − ρ) · choices with one signal variance and ρ fitted, starting at
// initial_share (in (0, 1); residual_mixture.cpp).
std::unique_ptr<Kernel> make_residual_mixture_kernel(std::unique_ptr<Kernel> described, std::unique_ptr<Kernel> choices, double initial_share);

}  // namespace labloop::detail
