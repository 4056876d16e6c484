// A kernel over linear features of the cube: k(a, b) = k_base(M a, M b), for the Gaussian
// process's input_map (descriptors.hpp: a categorical parameter's one-hot block mapped to its
// choices' descriptor features). Parameters are the base kernel's (one lengthscale per feature);
// gradients with respect to x follow the chain rule, ∇ₓ = Mᵀ ∇_{Mx}.
#include <fmt/format.h>

#include "kernels.hpp"
#include "labloop/core/error.hpp"

namespace labloop::detail {

namespace {

class MappedKernel final : public Kernel {
 public:
  MappedKernel(std::unique_ptr<Kernel> base, Eigen::MatrixXd map) : base_(std::move(base)), map_t_(map.transpose()) {}
  MappedKernel(const MappedKernel& o) : base_(o.base_->clone()), map_t_(o.map_t_) {}

  std::unique_ptr<Kernel> clone() const override { return std::make_unique<MappedKernel>(*this); }
  std::string name() const override { return base_->name() + "_mapped"; }
  Eigen::Index num_params() const override { return base_->num_params(); }
  Eigen::Index num_lengthscales() const override { return base_->num_lengthscales(); }
  Eigen::VectorXd log_params() const override { return base_->log_params(); }
  void set_log_params(const Eigen::VectorXd& p) override { base_->set_log_params(p); }
  double prior_variance() const override { return base_->prior_variance(); }

  Eigen::MatrixXd covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const override {
    const Eigen::MatrixXd fa = features(a);
    if (&a == &b) return base_->covariance(fa, fa);  // keeps the base kernel's symmetric fast path
    return base_->covariance(fa, features(b));
  }
  Eigen::MatrixXd covariance_grad(const Eigen::MatrixXd& a, Eigen::Index param) const override { return base_->covariance_grad(features(a), param); }
  Eigen::VectorXd weighted_param_grad(const Eigen::MatrixXd& a, const Eigen::MatrixXd& weights) const override {
    return base_->weighted_param_grad(features(a), weights);
  }
  Eigen::MatrixXd covariance_grad_x(const Eigen::RowVectorXd& x, const Eigen::MatrixXd& b) const override {
    const Eigen::RowVectorXd fx = x * map_t_;
    return base_->covariance_grad_x(fx, features(b)) * map_t_.transpose();
  }

 private:
  Eigen::MatrixXd features(const Eigen::MatrixXd& a) const {
    if (a.cols() != map_t_.rows())
      throw PlannerError(fmt::format("mapped kernel: inputs have {} columns, the map expects {}", a.cols(), map_t_.rows()));
    return a * map_t_;
  }

  std::unique_ptr<Kernel> base_;
  Eigen::MatrixXd map_t_;  // Mᵀ: cube_dim × features
};

}  // namespace

std::unique_ptr<Kernel> make_mapped_kernel(std::unique_ptr<Kernel> base, const Eigen::MatrixXd& map) {
  return std::make_unique<MappedKernel>(std::move(base), map);
}

}  // namespace labloop::detail
