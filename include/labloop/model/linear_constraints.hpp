#pragma once
// Known linear constraints on parameters ("constraints" in a campaign file, docs/config.md), e.g.
// a mixture whose fractions sum to one: "x1 + x2 + x3 == 1", or "temperature + 10*equiv <= 150".
//
// Grammar (user units, one comparison per constraint):
//   constraint := side ("<=" | ">=" | "==") side
//   side       := ["+" | "-"] term (("+" | "-") term)*
//   term       := number | name | number "*" name | name "*" number | name "/" number
// Numbers are decimal (1, 0.5, 2e-3). A name is a continuous, integer or discrete parameter
// that is not log-scaled: categorical parameters have no numeric value, and a linear constraint
// on a log-scaled parameter is not linear in the planner's coordinates (log(value)), which the
// samplers and projections below rely on. Discrete parameters are relaxed like integers (their
// coordinate is linear in the value between the first and last level) and then snapped to a
// level, which Space::repair steps between when the snap breaks a constraint. Products or
// quotients of parameters and powers are refused: constraints must be linear.
//
// Stated limits: at most kMaxConstraints constraints of at most kMaxConstraintChars characters.
// A setting satisfies a constraint Σ aᵢvᵢ (op) b when the residual r = Σ aᵢvᵢ − b obeys the
// comparison to within kConstraintTolerance × scale, scale = Σ|aᵢ|(highᵢ − lowᵢ) + |b| (so an
// equality holds to 1e-9 of the constraint's own magnitude, and an inequality has the same slack).
//
// FeasibleRegion is the same constraints in cube coordinates (see Space): a continuous parameter
// is u = (v − low)/(high − low) and an integer one (cell centres) u = (v − low + 0.5)/(high − low + 1),
// both affine, as is a discrete one between its first and last level, so the constraints stay
// linear there: G u ≤ h, E u = f, lo ≤ u ≤ hi. Integer and discrete parameters are relaxed to
// the continuous interval [low, high] (their values are rounded to whole values or levels later;
// Space::repair restores feasibility after rounding). Everything works on the "constrained
// coordinates" only, those of parameters some constraint names; other coordinates are free.
#include <Eigen/Core>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "labloop/core/parameter.hpp"

namespace labloop {

constexpr std::size_t kMaxConstraints = 64;
constexpr std::size_t kMaxConstraintChars = 1000;
constexpr double kConstraintTolerance = 1e-9;

enum class ConstraintRelation { less_equal, greater_equal, equal };

struct LinearConstraint {
  std::string text;                                  // as written in the campaign file
  std::vector<std::pair<std::string, double>> terms;  // parameter name → coefficient, collected, non-zero
  ConstraintRelation relation = ConstraintRelation::less_equal;
  double rhs = 0;                                    // terms (relation) rhs, in user units

  // Σ|aᵢ|(highᵢ − lowᵢ) + |rhs|, the magnitude the tolerance is relative to. `parameters` must
  // contain every term's name.
  double scale(const std::vector<Parameter>& parameters) const;
  // r = Σ aᵢvᵢ − rhs for the given user-unit values (same order as `terms`).
  double residual(const std::vector<double>& values) const;
  // Whether residual `r` obeys the relation within kConstraintTolerance × scale.
  bool satisfied(double r, double scale) const;
  // Whether `other` says the same: the same parameters, coefficients and right-hand side up to
  // one factor (100·x₁ + 100·x₂ == 100 is x₁ + x₂ == 1; an inequality only up to a positive
  // factor, or a negative one with the comparison turned: −x₁ >= −1 is x₁ <= 1). Equal to 1e-12.
  bool same_as(const LinearConstraint& other) const;
};

// A parsed constraint, or the reason `text` is not one (the message a person reads after
// "campaign.json: /constraints/2: "; the caller adds the place).
struct ConstraintParse {
  std::optional<LinearConstraint> constraint;
  std::string error;
};

// Parses `text` against `parameters` (their names, types and log flags). Never throws for bad
// text: a person's mistake is an expected outcome, returned in `error`.
ConstraintParse parse_linear_constraint(std::string_view text, const std::vector<Parameter>& parameters);

// "no setting within the parameters' bounds satisfies /constraints/0 ("x1 >= 0.6") and
// /constraints/2 ("x1 <= 0.4") together: …" for a subset from FeasibleRegion::infeasible_subset.
std::string describe_infeasible(const std::vector<LinearConstraint>& constraints, const std::vector<int>& subset);

// How the feasible points of a constrained space are drawn (the campaign's "constraint_sampling",
// docs/config.md; FeasibleSampler). `isotropic`: hit-and-run along directions uniform in the
// equalities' null space, what every journal written before this field existed was proposed
// from, so a journal without the field keeps it and replays. `rounded`: the directions follow
// the region's shape (a covariance estimated during burn-in), so a long thin region is crossed
// in a few moves rather than crept along (docs/decisions/0029-rounded-hit-and-run.md); what a new
// campaign file gets.
enum class ConstraintSampling { isotropic, rounded };

class FeasibleRegion {
 public:
  FeasibleRegion() = default;
  // `offsets` are the parameters' first cube coordinates, `cube_dim` the cube's dimension.
  // Constraints must have been parsed against `parameters` (throws PlannerError for a name that
  // is not a continuous, integer or discrete parameter without log).
  // `sampling` rounded also changes how a region with no room across some direction is made flat
  // (find_centre): a thin whole-number range is held at its first or last value before the
  // constraints are tested, each against the room its still-free parameters give it, so a
  // constraint that only a wide integer's range made look thin is not held too (n in 0..10^7 with
  // n + 10*x1 <= 10: n held at 0, x1 still over [0, 1]). Isotropic keeps every region as
  // journals written before were sampled in.
  FeasibleRegion(const std::vector<Parameter>& parameters, const std::vector<int>& offsets, int cube_dim,
                 const std::vector<LinearConstraint>& constraints, ConstraintSampling sampling = ConstraintSampling::isotropic);

  bool empty() const { return constraints_ == 0; }  // no constraints: the whole cube
  ConstraintSampling sampling() const { return sampling_; }  // isotropic without constraints
  int reduced_dim() const { return static_cast<int>(coords_.size()); }
  // The cube coordinates the constraints involve (reduced index → cube coordinate).
  const std::vector<int>& coordinates() const { return coords_; }
  Eigen::VectorXd reduce(const Eigen::VectorXd& cube_point) const;
  // `cube_point` with its constrained coordinates replaced by `y`.
  Eigen::VectorXd expand(const Eigen::VectorXd& y, Eigen::VectorXd cube_point) const;
  const Eigen::VectorXd& lower() const { return lo_; }
  const Eigen::VectorXd& upper() const { return hi_; }
  // Which reduced coordinates belong to integer or discrete parameters (relaxed, then rounded).
  const std::vector<bool>& integer() const { return integer_; }

  // The rows in reduced coordinates, each normalized by its constraint's scale: G y ≤ h, E y = f.
  const Eigen::MatrixXd& inequality_rows() const { return g_; }
  const Eigen::VectorXd& inequality_bounds() const { return h_; }
  const Eigen::MatrixXd& equality_rows() const { return e_; }
  const Eigen::VectorXd& equality_values() const { return f_; }
  // The same without the rows that earlier rows imply (a repeated equality, or one that combines
  // others): what optimizers are given, since SLSQP refuses more equalities than coordinates.
  // A dropped row that contradicts the others makes the region infeasible, which
  // infeasible_subset() reports from all the rows.
  const Eigen::MatrixXd& independent_equality_rows() const { return e_independent_; }
  const Eigen::VectorXd& independent_equality_values() const { return f_independent_; }

  // The largest violation at reduced point y, each constraint measured relative to its scale,
  // the box in cube units; 0 inside.
  double violation(const Eigen::VectorXd& y) const;
  bool contains(const Eigen::VectorXd& y) const { return violation(y) <= kConstraintTolerance; }

  // Indices of a minimal set of constraints that no point of the box satisfies together (every
  // proper subset is satisfiable), found with a deletion filter over feasibility solves; empty
  // when some point satisfies them all to the tolerance settings are checked against (a set that
  // misses by rounding, bounds of 0.3333333 with x1 + x2 + x3 == 1, is infeasible). Integers are
  // relaxed to their continuous range here.
  std::vector<int> infeasible_subset() const;

  // The nearest point (Euclidean, reduced coordinates) to y satisfying the constraints, with
  // coordinates flagged in `fixed` held at y's values; nothing when none is found.
  std::optional<Eigen::VectorXd> project(const Eigen::VectorXd& y, const std::vector<bool>& fixed = {}) const;

  // A point deep inside (a Chebyshev-centre-like point: largest margin to every inequality and
  // the box, measured as in `violation`), computed at construction; its margin may be 0 when the
  // region has no interior beyond its equalities.
  const Eigen::VectorXd& centre() const { return centre_; }

  // Hit-and-run (Smith 1984) in the null space of the equalities: `steps` moves from y, each
  // along a uniformly random direction to a uniform point of the chord inside the region and the
  // box [lo, hi] (which must contain y). Leaves the region's uniform distribution invariant.
  void hit_and_run(Eigen::VectorXd& y, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi, int steps, std::mt19937_64& rng) const;
  // The same with every other move (the first, third, …) along M z for z ~ N(0, I) of M's column
  // count, the others along the isotropic directions above: `directions` (k × c, k =
  // reduced_dim()) must lie in the span of moving_basis(). Each kind of move, with M fixed, is
  // state-independent and symmetric (z and −z are equally likely), so each leaves the region's
  // uniform distribution invariant whatever M is, and so does the alternation; the isotropic
  // moves keep the chain mixing however poorly M fits the region. A move along M costs k·c flops
  // for the direction, plus the chord.
  void hit_and_run(Eigen::VectorXd& y, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi, int steps, std::mt19937_64& rng,
                   const Eigen::MatrixXd& directions) const;
  // Orthonormal basis (k × m) of the directions hit-and-run moves along: the equalities' null
  // space without the fixed coordinates. m = 0 for a single point.
  const Eigen::MatrixXd& moving_basis() const { return null_; }
  // Whether the isotropic directions are drawn by projecting a k-vector onto that null space
  // (2·k·(k − m) flops, from 64 constrained coordinates on when the equalities take fewer than a
  // third of them) rather than as N z (k·m flops): where a direction of any other shape would
  // cost more per step.
  bool directions_by_projection() const;

 private:
  // `bounds` replaces h (same rows) when given; `moving_sides_only` keeps the margin off the sides
  // hit-and-run cannot move away from (coordinate_moves, row_moves), which find_centre's corner
  // case needs (a coordinate an equality holds at 5e-5 would refuse any margin above it).
  std::optional<Eigen::VectorXd> feasible_point(const std::vector<bool>& use, double margin, const Eigen::VectorXd* bounds = nullptr,
                                                bool moving_sides_only = false) const;
  bool coordinate_moves(Eigen::Index j) const;
  bool row_moves(Eigen::Index r) const;
  // Box sides and inequality rows that move and that y lies on (to kFeasibilitySlack).
  int active_sides(const Eigen::VectorXd& y) const;
  void find_directions();
  void find_centre(size_t constraint_count);
  bool pin_implicit_equalities(const std::vector<bool>& all);
  // Whether the rows in `all` stay satisfiable with coordinate j held kPinTest off its low side,
  // and off its high side (the box is left as it was).
  std::pair<bool, bool> can_leave_sides(Eigen::Index j, const std::vector<bool>& all);
  // What find_centre does instead when pin_implicit_equalities' pins contradict each other in a
  // region thinner than its test (x2 <= 0.001 with x2 in [0, 15]: the row pinned at 0.001 and the
  // side at 0): each pin is kept only if the set stays satisfiable. True when anything changed.
  // With `row_span`, a row's test is relative to the room the coordinates still free give it
  // (Σ|gⱼ|(hiⱼ − loⱼ) over them) rather than to its whole scale (rounded regions).
  bool pin_consistently(const std::vector<bool>& all, bool row_span = false);
  // Whether some point of the box meets the rows in `use` to the tolerance `contains` uses.
  bool satisfiable(const std::vector<bool>& use) const;
  // Both hit_and_run: `shaped` (null: none) on even steps, isotropic directions on the others.
  void walk(Eigen::VectorXd& y, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi, int steps, std::mt19937_64& rng,
            const Eigen::MatrixXd* shaped) const;

  int constraints_ = 0;
  std::vector<int> coords_;
  std::vector<bool> integer_;
  Eigen::MatrixXd g_, e_;  // rows normalized by the constraint's scale
  Eigen::VectorXd h_, f_;
  std::vector<int> g_source_, e_source_;  // constraint index of each row
  Eigen::VectorXd lo_, hi_;
  Eigen::MatrixXd null_;     // orthonormal basis of the directions hit-and-run moves along
  Eigen::MatrixXd row_space_;  // orthonormal basis of the directions it may not move along
  Eigen::MatrixXd e_pinv_;   // pseudo-inverse of E, to pull a point back onto E y = f
  Eigen::MatrixXd e_independent_;  // independent_equality_rows()
  Eigen::VectorXd f_independent_;
  Eigen::VectorXd centre_;
  bool pinned_checked_ = false;
  ConstraintSampling sampling_ = ConstraintSampling::isotropic;
};

}  // namespace labloop
