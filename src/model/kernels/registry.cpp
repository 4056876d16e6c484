// The kernel table. A new kernel is one .cpp with a factory, plus one line below; the conformance
// tests (tests/unit/kernel_test.cpp) iterate this table.
#include <string>
#include <vector>

#include "../registry.hpp"
#include "kernels.hpp"

namespace labloop {

namespace {

const detail::RegistryEntry<KernelFactory> kKernels[] = {
    {"matern52", detail::make_matern52_kernel},
    {"matern32", detail::make_matern32_kernel},
    {"squared_exponential", detail::make_squared_exponential_kernel},
};

}  // namespace

std::vector<std::string> kernel_names() { return detail::entry_names<KernelFactory>(kKernels); }

std::unique_ptr<Kernel> make_kernel(const std::string& name, int dim, const JsonNode& options) {
  return detail::make_entry<KernelFactory>(kKernels, "kernel", name, dim, options);
}

std::unique_ptr<Kernel> make_kernel(const std::string& name, int dim, const nlohmann::json& options) {
  const std::string source = "kernel " + name;
  return make_kernel(name, dim, JsonNode(options, "", source));
}

}  // namespace labloop
