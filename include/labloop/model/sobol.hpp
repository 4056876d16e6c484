#pragma once
// Sobol low-discrepancy points for space-filling initial designs and candidate pools. A
// quasi-random design covers the parameter box far more evenly than pseudo-random draws of the
// same size, which matters when every point is a real experiment.
#include <cstdint>
#include <vector>

#include <Eigen/Dense>

namespace labloop {

// Sobol points in [0,1)^dim (Joe & Kuo direction numbers). With a non-zero scramble seed, the
// sequence is randomized by linear matrix scrambling + a random digital shift (Matoušek 1998),
// which keeps the (t,m,s)-net structure while removing the point at the origin.
//
// Points are produced in Gray-code order (Antonov–Saleev), so consecutive calls cost O(dim), and
// every prefix of 2^m points (counted from index 0) is a (t,m,s)-net. Coordinates carry 32 bits,
// so at most 2^32 points can be drawn from one sequence.
class SobolSequence {
 public:
  // Dimensions 2..kMaxDim use every polynomial of degree <= 11 in Joe & Kuo's new-joe-kuo-6.21201
  // table; dimension 1 is the van der Corput sequence.
  static constexpr int kMaxDim = 337;
  // 32-bit digits per coordinate, hence 2^32 points per sequence.
  static constexpr int kBits = 32;
  static constexpr std::uint64_t kMaxPoints = std::uint64_t{1} << kBits;

  // Throws PlannerError if dim < 1 or dim > kMaxDim. scramble_seed == 0 gives the plain sequence.
  explicit SobolSequence(int dim, std::uint64_t scramble_seed = 0);

  int dim() const { return dim_; }

  // Next point, each coordinate in [0,1). Throws PlannerError once 2^32 points have been drawn.
  Eigen::VectorXd next();
  // n points as rows (n x dim). Throws PlannerError if n < 0 or the sequence would run out.
  Eigen::MatrixXd next(int n);
  // Jumps over n points in O(32 * dim), as if next() had been called n times.
  void skip(std::uint64_t n);
  // Number of points generated (or skipped) so far.
  std::uint64_t index() const { return index_; }

 private:
  // Sets state_ to the point with Gray-code rank `index` directly, without walking there.
  void seek(std::uint64_t index);

  int dim_;
  std::uint64_t index_ = 0;
  // directions_[d * kBits + b] is direction number v_{b+1} of dimension d, as a 32-bit fraction.
  std::vector<std::uint32_t> directions_;
  // Random digital shift per dimension (all zero when unscrambled).
  std::vector<std::uint32_t> shift_;
  // Unshifted digits of the point at position index_ (the next one to be returned).
  std::vector<std::uint32_t> state_;
};

// One row of the direction-number table, exposed so tests can check every published entry.
// The primitive polynomial is x^degree + a_1 x^(degree-1) + ... + a_(degree-1) x + 1, with the
// interior coefficients packed into `a` (a_1 is the most significant bit), as in Joe & Kuo.
struct SobolTableRow {
  int degree = 0;
  std::uint32_t a = 0;
  std::vector<std::uint32_t> m;  // initial direction numbers m_1..m_degree
};

// Row for `dimension` in 2..SobolSequence::kMaxDim (1-based, as in the published table).
// Throws PlannerError outside that range; dimension 1 has no row because it needs no polynomial.
SobolTableRow sobol_table_row(int dimension);

}  // namespace labloop
