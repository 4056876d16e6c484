// The kernel table. A new kernel is one .cpp with a factory, plus one line below.
#include <string>
#include <vector>

#include "labloop/core/error.hpp"
#include "kernels.hpp"

namespace labloop {

namespace {

struct KernelEntry {
  const char* name;
  std::unique_ptr<Kernel> (*make)(int dim);
};

const KernelEntry kKernels[] = {
    {"matern52", detail::make_matern52_kernel},
    {"matern32", detail::make_matern32_kernel},
    {"squared_exponential", detail::make_squared_exponential_kernel},
};

}  // namespace

std::vector<std::string> kernel_names() {
  std::vector<std::string> names;
  for (const auto& e : kKernels) names.emplace_back(e.name);
  return names;
}

std::unique_ptr<Kernel> make_kernel(const std::string& name, int dim) {
  for (const auto& e : kKernels)
    if (name == e.name) return e.make(dim);
  std::string available;
  for (const auto& e : kKernels) available += (available.empty() ? "" : ", ") + std::string(e.name);
  throw PlannerError("unknown kernel \"" + name + "\" (available: " + available + ")");
}

}  // namespace labloop
