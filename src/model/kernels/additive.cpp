// An additive mixture over groups of inputs:
//
//   k(a, b) = ½ k_full(a, b) + ½ · (1/G) Σ_g k_g(a_g, b_g)
//
// where k_full is the base kernel over all inputs and k_g the same kernel over the inputs of group
// g only (one group per parameter: a continuous input, or the one-hot inputs of a categorical),
// sharing the lengthscales and the signal variance s², so the parameters stay [log ℓ…, log s²]
// and k(x, x) = s². The additive half lets what is learned about one parameter's choices carry
// over to points that differ in the others (main effects: "this ligand is good"), which a kernel
// over all inputs at once only allows between near neighbours; the full half keeps interactions.
// A sum of positive semi-definite kernels is positive semi-definite.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "labloop/core/error.hpp"
#include "kernels.hpp"

namespace labloop::detail {

namespace {

class AdditiveMixtureKernel final : public Kernel {
 public:
  AdditiveMixtureKernel(const std::string& base, int dim, const std::vector<int>& groups, const nlohmann::json& options)
      : base_(base), full_(make_kernel(base, dim, options)) {
    if (static_cast<int>(groups.size()) != dim) throw PlannerError(fmt::format("additive kernel: one group per input expected ({} groups for {} inputs)", groups.size(), dim));
    for (int i = 0; i < dim; ++i) {
      const int g = groups[static_cast<size_t>(i)];
      if (g < 0 || g >= dim) throw PlannerError(fmt::format("additive kernel: group {} of input {} is not in [0, {})", g, i, dim));
      if (g >= static_cast<int>(dims_.size())) dims_.resize(static_cast<size_t>(g) + 1);
      dims_[static_cast<size_t>(g)].push_back(i);
    }
    for (const auto& d : dims_) {
      if (d.empty()) throw PlannerError("additive kernel: groups must be numbered 0, 1, … without gaps");
      parts_.push_back(make_kernel(base, static_cast<int>(d.size()), options));
    }
    set_log_params(full_->log_params());
  }
  AdditiveMixtureKernel(const AdditiveMixtureKernel& o) : base_(o.base_), full_(o.full_->clone()), dims_(o.dims_), log_params_(o.log_params_) {
    for (const auto& p : o.parts_) parts_.push_back(p->clone());
  }

  std::unique_ptr<Kernel> clone() const override { return std::make_unique<AdditiveMixtureKernel>(*this); }
  std::string name() const override { return base_ + "_additive"; }
  Eigen::Index num_params() const override { return full_->num_params(); }
  Eigen::VectorXd log_params() const override { return log_params_; }
  void set_log_params(const Eigen::VectorXd& p) override {
    full_->set_log_params(p);
    log_params_ = p;
    const Eigen::Index d = dim();
    for (size_t g = 0; g < parts_.size(); ++g) {
      Eigen::VectorXd q(static_cast<Eigen::Index>(dims_[g].size()) + 1);
      for (size_t k = 0; k < dims_[g].size(); ++k) q(static_cast<Eigen::Index>(k)) = p(dims_[g][k]);
      q(q.size() - 1) = p(d);
      parts_[g]->set_log_params(q);
    }
  }
  double prior_variance() const override { return full_->prior_variance(); }

  Eigen::MatrixXd covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const override {
    Eigen::MatrixXd k = 0.5 * full_->covariance(a, b);
    for (size_t g = 0; g < parts_.size(); ++g) {
      const Eigen::MatrixXd ag = a(Eigen::all, dims_[g]);
      if (&a == &b) k += part_weight() * parts_[g]->covariance(ag, ag);  // keeps the base kernel's symmetric fast path
      else k += part_weight() * parts_[g]->covariance(ag, Eigen::MatrixXd(b(Eigen::all, dims_[g])));
    }
    return k;
  }

  Eigen::MatrixXd covariance_grad(const Eigen::MatrixXd& a, Eigen::Index param) const override {
    Eigen::MatrixXd grad = 0.5 * full_->covariance_grad(a, param);
    for (size_t g = 0; g < parts_.size(); ++g) {
      const Eigen::Index local = local_index(g, param);
      if (local >= 0) grad += part_weight() * parts_[g]->covariance_grad(a(Eigen::all, dims_[g]), local);
    }
    return grad;
  }

  Eigen::VectorXd weighted_param_grad(const Eigen::MatrixXd& a, const Eigen::MatrixXd& weights) const override {
    Eigen::VectorXd grad = 0.5 * full_->weighted_param_grad(a, weights);
    const Eigen::Index d = dim();
    for (size_t g = 0; g < parts_.size(); ++g) {
      const Eigen::VectorXd pg = parts_[g]->weighted_param_grad(a(Eigen::all, dims_[g]), weights);
      for (size_t k = 0; k < dims_[g].size(); ++k) grad(dims_[g][k]) += part_weight() * pg(static_cast<Eigen::Index>(k));
      grad(d) += part_weight() * pg(pg.size() - 1);
    }
    return grad;
  }

  Eigen::MatrixXd covariance_grad_x(const Eigen::RowVectorXd& x, const Eigen::MatrixXd& b) const override {
    Eigen::MatrixXd grad = 0.5 * full_->covariance_grad_x(x, b);
    for (size_t g = 0; g < parts_.size(); ++g) {
      const Eigen::MatrixXd pg = parts_[g]->covariance_grad_x(x(dims_[g]), b(Eigen::all, dims_[g]));
      for (size_t k = 0; k < dims_[g].size(); ++k) grad.col(dims_[g][k]) += part_weight() * pg.col(static_cast<Eigen::Index>(k));
    }
    return grad;
  }

 private:
  Eigen::Index dim() const { return log_params_.size() - 1; }
  double part_weight() const { return 0.5 / static_cast<double>(parts_.size()); }
  // The index of log parameter `param` within group g's kernel, or −1 when it is not one of its.
  Eigen::Index local_index(size_t g, Eigen::Index param) const {
    if (param == dim()) return static_cast<Eigen::Index>(dims_[g].size());
    for (size_t k = 0; k < dims_[g].size(); ++k)
      if (dims_[g][k] == param) return static_cast<Eigen::Index>(k);
    return -1;
  }

  std::string base_;
  std::unique_ptr<Kernel> full_;
  std::vector<std::vector<Eigen::Index>> dims_;  // the inputs of each group
  std::vector<std::unique_ptr<Kernel>> parts_;   // the base kernel over each group's inputs
  Eigen::VectorXd log_params_;
};

}  // namespace

}  // namespace labloop::detail

namespace labloop {

std::unique_ptr<Kernel> make_additive_kernel(const std::string& base, int dim, const std::vector<int>& groups, const nlohmann::json& options) {
  return std::make_unique<detail::AdditiveMixtureKernel>(base, dim, groups, options);
}

}  // namespace labloop
