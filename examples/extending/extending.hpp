#pragma once
// The worked examples of docs/extending.md, declared as the in-tree headers (kernels.hpp,
// acquisitions.hpp, planners.hpp) would declare them, with the registry rows the tests use in
// place of the real tables.
#include <memory>

#include "labloop/core/json_check.hpp"
#include "labloop/model/acquisition.hpp"
#include "labloop/model/kernel.hpp"
#include "labloop/model/planner.hpp"

namespace labloop::detail {

std::unique_ptr<Kernel> make_rational_quadratic_kernel(int dim, const JsonNode& options);
std::unique_ptr<Acquisition> make_log_ei_margin(const JsonNode& options);
std::unique_ptr<Planner> make_local_random_planner(const PlannerContext& context);

}  // namespace labloop::detail

namespace labloop::sim {

struct TestFunction;
// In the tree: one more entry of the table in simulators/test_functions.cpp.
const TestFunction& example_sphere_function();

}  // namespace labloop::sim
