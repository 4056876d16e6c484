// An additive mixture over groups of inputs:
//
//   k(a, b) = w k_full(a, b) + (1 − w) · (1/G) Σ_g k_g(a_g, b_g),    w = 1 / (1 + e^(−η))
//
// where k_full is the base kernel over all inputs and k_g the same kernel over the inputs of group
// g only (one group per parameter: a continuous input, or the one-hot inputs of a categorical),
// sharing the lengthscales and the signal variance s², so the parameters are [log ℓ…, η, log s²]
// and k(x, x) = s². The additive part lets what is learned about one parameter's choices carry
// over to points that differ in the others (main effects: "this ligand is good"), which a kernel
// over all inputs at once only allows between near neighbours; the full part keeps interactions.
// How much of each the data show differs from table to table (decision 0013), so the share w is
// fitted with the other hyperparameters; it starts at ½. A sum of positive semi-definite kernels
// with positive weights is positive semi-definite.
#include <fmt/format.h>

#include <cmath>
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
    // The share's gradient below uses Σ W ⊙ K = the weighted gradient in log s²: a base kernel
    // with parameters of its own would need them placed and mixed too.
    if (full_->num_lengthscales() != full_->num_params() - 1)
      throw PlannerError(fmt::format("additive kernel: the {} kernel has parameters besides lengthscales and the signal variance", base));
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
    const Eigen::VectorXd p = full_->log_params();
    Eigen::VectorXd q(p.size() + 1);
    q << p.head(dim), 0.0, p(dim);
    set_log_params(q);
  }
  AdditiveMixtureKernel(const AdditiveMixtureKernel& o)
      : base_(o.base_), full_(o.full_->clone()), dims_(o.dims_), log_params_(o.log_params_), weight_(o.weight_) {
    for (const auto& p : o.parts_) parts_.push_back(p->clone());
  }

  std::unique_ptr<Kernel> clone() const override { return std::make_unique<AdditiveMixtureKernel>(*this); }
  std::string name() const override { return base_ + "_additive"; }
  Eigen::Index num_params() const override { return full_->num_params() + 1; }
  Eigen::Index num_lengthscales() const override { return full_->num_params() - 1; }
  Eigen::VectorXd log_params() const override { return log_params_; }
  void set_log_params(const Eigen::VectorXd& p) override {
    const Eigen::Index d = full_->num_params() - 1;
    if (p.size() != d + 2) throw PlannerError(fmt::format("additive kernel: {} parameters given, {} expected", p.size(), d + 2));
    Eigen::VectorXd f(d + 1);
    f << p.head(d), p(d + 1);
    full_->set_log_params(f);
    log_params_ = p;
    weight_ = 1.0 / (1.0 + std::exp(-p(d)));
    for (size_t g = 0; g < parts_.size(); ++g) {
      Eigen::VectorXd q(static_cast<Eigen::Index>(dims_[g].size()) + 1);
      for (size_t k = 0; k < dims_[g].size(); ++k) q(static_cast<Eigen::Index>(k)) = p(dims_[g][k]);
      q(q.size() - 1) = p(d + 1);
      parts_[g]->set_log_params(q);
    }
  }
  double prior_variance() const override { return full_->prior_variance(); }

  Eigen::MatrixXd covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const override {
    return weight_ * full_->covariance(a, b) + (1.0 - weight_) * parts_mean(a, b);
  }

  Eigen::MatrixXd covariance_grad(const Eigen::MatrixXd& a, Eigen::Index param) const override {
    const Eigen::Index d = dim();
    // ∂K/∂η = w(1 − w)(K_full − mean of the group kernels)
    if (param == d) return weight_ * (1.0 - weight_) * (full_->covariance(a, a) - parts_mean(a, a));
    Eigen::MatrixXd grad = weight_ * full_->covariance_grad(a, param == d + 1 ? d : param);
    for (size_t g = 0; g < parts_.size(); ++g) {
      const Eigen::Index local = local_index(g, param);
      if (local >= 0) grad += part_weight() * parts_[g]->covariance_grad(a(Eigen::all, dims_[g]), local);
    }
    return grad;
  }

  Eigen::VectorXd weighted_param_grad(const Eigen::MatrixXd& a, const Eigen::MatrixXd& weights) const override {
    const Eigen::Index d = dim();
    const Eigen::VectorXd fg = full_->weighted_param_grad(a, weights);
    Eigen::VectorXd grad(d + 2);
    grad << weight_ * fg.head(d), 0.0, weight_ * fg(d);
    // ∂/∂η: w(1 − w) Σ W ⊙ (K_full − mean of the K_g). A kernel is proportional to its signal
    // variance, so Σ W ⊙ K is its weighted gradient in log s², already at hand: no covariance to recompute.
    double parts_signal = 0.0;
    for (size_t g = 0; g < parts_.size(); ++g) {
      const Eigen::VectorXd pg = parts_[g]->weighted_param_grad(a(Eigen::all, dims_[g]), weights);
      for (size_t k = 0; k < dims_[g].size(); ++k) grad(dims_[g][k]) += part_weight() * pg(static_cast<Eigen::Index>(k));
      grad(d + 1) += part_weight() * pg(pg.size() - 1);
      parts_signal += pg(pg.size() - 1);
    }
    grad(d) = weight_ * (1.0 - weight_) * (fg(d) - parts_signal / static_cast<double>(parts_.size()));
    return grad;
  }

  Eigen::MatrixXd covariance_grad_x(const Eigen::RowVectorXd& x, const Eigen::MatrixXd& b) const override {
    Eigen::MatrixXd grad = weight_ * full_->covariance_grad_x(x, b);
    for (size_t g = 0; g < parts_.size(); ++g) {
      const Eigen::MatrixXd pg = parts_[g]->covariance_grad_x(x(dims_[g]), b(Eigen::all, dims_[g]));
      for (size_t k = 0; k < dims_[g].size(); ++k) grad.col(dims_[g][k]) += part_weight() * pg.col(static_cast<Eigen::Index>(k));
    }
    return grad;
  }

 private:
  Eigen::Index dim() const { return log_params_.size() - 2; }
  double part_weight() const { return (1.0 - weight_) / static_cast<double>(parts_.size()); }
  // (1/G) Σ_g k_g(a_g, b_g)
  Eigen::MatrixXd parts_mean(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const {
    Eigen::MatrixXd k = Eigen::MatrixXd::Zero(a.rows(), b.rows());
    for (size_t g = 0; g < parts_.size(); ++g) {
      const Eigen::MatrixXd ag = a(Eigen::all, dims_[g]);
      if (&a == &b) k += parts_[g]->covariance(ag, ag);  // keeps the base kernel's symmetric fast path
      else k += parts_[g]->covariance(ag, Eigen::MatrixXd(b(Eigen::all, dims_[g])));
    }
    return k / static_cast<double>(parts_.size());
  }
  // The index of log parameter `param` (not η) within group g's kernel, or −1 when it is not one of its.
  Eigen::Index local_index(size_t g, Eigen::Index param) const {
    if (param == dim() + 1) return static_cast<Eigen::Index>(dims_[g].size());
    for (size_t k = 0; k < dims_[g].size(); ++k)
      if (dims_[g][k] == param) return static_cast<Eigen::Index>(k);
    return -1;
  }

  std::string base_;
  std::unique_ptr<Kernel> full_;
  std::vector<std::vector<Eigen::Index>> dims_;  // the inputs of each group
  std::vector<std::unique_ptr<Kernel>> parts_;   // the base kernel over each group's inputs
  Eigen::VectorXd log_params_;  // [log ℓ…, η, log s²]
  double weight_ = 0.5;         // w, the full kernel's share
};

}  // namespace

}  // namespace labloop::detail

namespace labloop {

std::unique_ptr<Kernel> make_additive_kernel(const std::string& base, int dim, const std::vector<int>& groups, const nlohmann::json& options) {
  return std::make_unique<detail::AdditiveMixtureKernel>(base, dim, groups, options);
}

}  // namespace labloop
