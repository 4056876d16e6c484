#include "labloop/model/sobol.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "labloop/core/error.hpp"

using labloop::PlannerError;
using labloop::SobolSequence;

namespace {

constexpr int kMaxDim = SobolSequence::kMaxDim;

// Index of the 1/2^m-wide interval containing x; points are exact multiples of 2^-32, so the
// truncation is exact.
int cell(double x, int m) { return static_cast<int>(std::floor(std::ldexp(x, m))); }

// True if the first 2^m points of column c hit every interval [k/2^m, (k+1)/2^m) exactly once.
bool stratified_1d(const Eigen::MatrixXd& pts, int c, int m) {
  std::vector<int> counts(std::size_t{1} << m, 0);
  for (int i = 0; i < (1 << m); ++i) ++counts[static_cast<std::size_t>(cell(pts(i, c), m))];
  for (int k : counts) {
    if (k != 1) return false;
  }
  return true;
}

// True if every elementary box [a/2^d1, (a+1)/2^d1) x [b/2^d2, (b+1)/2^d2) with d1 + d2 = m - t
// holds exactly 2^t of the first 2^m points in columns (c1, c2).
bool is_net_2d(const Eigen::MatrixXd& pts, int c1, int c2, int m, int t) {
  const int n = 1 << m;
  for (int d1 = 0; d1 <= m - t; ++d1) {
    const int d2 = m - t - d1;
    std::vector<int> counts(std::size_t{1} << (m - t), 0);
    for (int i = 0; i < n; ++i) {
      const int box = (cell(pts(i, c1), d1) << d2) | cell(pts(i, c2), d2);
      ++counts[static_cast<std::size_t>(box)];
    }
    for (int k : counts) {
      if (k != (1 << t)) return false;
    }
  }
  return true;
}

// Smallest t for which the first 2^m points of the projection (c1, c2) form a (t,m,2)-net.
int t_value_2d(const Eigen::MatrixXd& pts, int c1, int c2, int m) {
  int t = 0;
  while (!is_net_2d(pts, c1, c2, m, t)) ++t;
  return t;
}

// A binary polynomial of degree s (bit i = coefficient of x^i) is primitive iff x has
// multiplicative order exactly 2^s - 1 modulo it.
bool is_primitive(std::uint32_t poly, int s) {
  const std::uint32_t period = (std::uint32_t{1} << s) - 1;
  std::uint32_t r = 1;
  for (std::uint32_t k = 1; k <= period; ++k) {
    r <<= 1;
    if ((r >> s) & 1u) r ^= poly;
    if (r == 1) return k == period;
  }
  return false;
}

}  // namespace

TEST_CASE("Sobol: the direction-number table is well formed in every dimension", "[sobol]") {
  std::uint32_t previous = 0;
  for (int d = 2; d <= kMaxDim; ++d) {
    INFO("dimension " << d);
    const labloop::SobolTableRow row = labloop::sobol_table_row(d);
    REQUIRE(row.degree >= 1);
    REQUIRE(row.degree <= 11);
    REQUIRE(row.m.size() == static_cast<std::size_t>(row.degree));
    REQUIRE(row.a < (std::uint32_t{1} << (row.degree - 1)));
    for (int i = 1; i <= row.degree; ++i) {
      const std::uint32_t m = row.m[static_cast<std::size_t>(i - 1)];
      INFO("m_" << i << " = " << m);
      CHECK(m % 2 == 1);
      CHECK(m < (std::uint32_t{1} << i));
    }
    // Joe & Kuo use each primitive polynomial once, ordered by degree and then by value, so the
    // full polynomials must be primitive and strictly increasing; that pins down every (s, a).
    const std::uint32_t poly = (std::uint32_t{1} << row.degree) | (row.a << 1) | 1u;
    CHECK(is_primitive(poly, row.degree));
    CHECK(poly > previous);
    previous = poly;
  }
  CHECK_THROWS_AS(labloop::sobol_table_row(1), PlannerError);
  CHECK_THROWS_AS(labloop::sobol_table_row(kMaxDim + 1), PlannerError);
}

TEST_CASE("Sobol: the table skips no primitive polynomial of degree 11 or less", "[sobol]") {
  // There are 1+1+2+2+6+6+18+16+48+60+176 = 336 primitive polynomials of degree 1..11; together
  // with the strict ordering above this means none was dropped or duplicated.
  int count = 0;
  for (int s = 1; s <= 11; ++s) {
    for (std::uint32_t a = 0; a < (std::uint32_t{1} << (s - 1)); ++a) {
      if (is_primitive((std::uint32_t{1} << s) | (a << 1) | 1u, s)) ++count;
    }
  }
  CHECK(count == kMaxDim - 1);
  CHECK(labloop::sobol_table_row(kMaxDim).degree == 11);
}

TEST_CASE("Sobol: the first points of dimension 2 match the published sequence", "[sobol]") {
  SobolSequence seq(2);
  const double expected[][2] = {{0.0, 0.0},     {0.5, 0.5},     {0.75, 0.25},  {0.25, 0.75},
                                {0.375, 0.375}, {0.875, 0.875}, {0.625, 0.125}, {0.125, 0.625}};
  for (const auto& e : expected) {
    const Eigen::VectorXd x = seq.next();
    CHECK(x[0] == e[0]);
    CHECK(x[1] == e[1]);
  }
  CHECK(seq.index() == 8);
}

TEST_CASE("Sobol: the unscrambled sequence starts at the origin and then visits the centre",
          "[sobol]") {
  // Every m_1 is 1, so the second point is 1/2 in every dimension.
  SobolSequence seq(kMaxDim);
  CHECK(seq.dim() == kMaxDim);
  CHECK(seq.next().isZero());
  CHECK((seq.next().array() == 0.5).all());
}

TEST_CASE("Sobol: one-dimensional projections of 2^m points are stratified", "[sobol]") {
  const std::vector<int> dims = {0, 1, 2, 7, 50, 150, 250, kMaxDim - 1};
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{20240611}}) {
    SobolSequence seq(kMaxDim, seed);
    const Eigen::MatrixXd pts = seq.next(256);
    for (int c : dims) {
      for (int m = 1; m <= 8; ++m) {
        INFO("seed " << seed << ", dimension " << c + 1 << ", m = " << m);
        CHECK(stratified_1d(pts, c, m));
      }
    }
  }
}

TEST_CASE("Sobol: the first two dimensions form a (0 m 2)-net", "[sobol]") {
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{7}}) {
    SobolSequence seq(2, seed);
    const Eigen::MatrixXd pts = seq.next(256);
    for (int m = 1; m <= 8; ++m) {
      INFO("seed " << seed << ", m = " << m);
      // Every elementary box of area 2^-m holds exactly one of the first 2^m points.
      CHECK(is_net_2d(pts, 0, 1, m, 0));
    }
    // The brief's phrasing: with 256 points, each box of area 1/16 holds exactly 16.
    CHECK(is_net_2d(pts, 0, 1, 8, 4));
  }
}

TEST_CASE("Sobol: other two-dimensional projections have a small t-value that scrambling keeps",
          "[sobol]") {
  // Joe & Kuo chose each dimension's direction numbers to keep its 2-D projections with the
  // earlier dimensions good. A (t,8,2)-net with small t has no empty or crowded elementary box of
  // area 2^(t-8); t = 8 would mean no structure at all. The bounds are loose (the measured worst
  // case is t = 5 within the first 32 dimensions and t = 7 up to kMaxDim) but a wrong table entry
  // or a broken recurrence usually breaks them.
  SobolSequence plain(kMaxDim);
  SobolSequence scrambled(kMaxDim, 99);
  const Eigen::MatrixXd p = plain.next(256);
  const Eigen::MatrixXd q = scrambled.next(256);
  for (int a = 0; a < 32; ++a) {
    for (int b = a + 1; b < 32; ++b) {
      INFO("dimensions " << a + 1 << " and " << b + 1);
      const int t = t_value_2d(p, a, b, 8);
      CHECK(t <= 5);
      // Linear matrix scrambling and digital shifts map elementary boxes onto elementary boxes.
      CHECK(t_value_2d(q, a, b, 8) == t);
    }
  }
  const std::vector<std::pair<int, int>> far_pairs = {
      {0, kMaxDim - 1}, {99, 100}, {150, 250}, {200, 300}, {kMaxDim - 2, kMaxDim - 1}};
  for (const auto& [a, b] : far_pairs) {
    INFO("dimensions " << a + 1 << " and " << b + 1);
    const int t = t_value_2d(p, a, b, 8);
    CHECK(t <= 7);
    CHECK(t_value_2d(q, a, b, 8) == t);
  }
}

TEST_CASE("Sobol: every coordinate lies in the half-open unit interval", "[sobol]") {
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{3}}) {
    SobolSequence seq(kMaxDim, seed);
    const Eigen::MatrixXd pts = seq.next(1000);
    CHECK(pts.minCoeff() >= 0.0);
    CHECK(pts.maxCoeff() < 1.0);
  }
}

TEST_CASE("Sobol: the mean of every coordinate over 1024 points is close to one half", "[sobol]") {
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{5}}) {
    SobolSequence seq(kMaxDim, seed);
    const Eigen::VectorXd mean = seq.next(1024).colwise().mean();
    for (int c = 0; c < kMaxDim; ++c) {
      INFO("seed " << seed << ", dimension " << c + 1);
      CHECK(std::abs(mean[c] - 0.5) < 1e-2);
    }
  }
}

TEST_CASE("Sobol: scrambling is reproducible per seed and differs between seeds", "[sobol]") {
  SobolSequence a(5, 42);
  SobolSequence b(5, 42);
  SobolSequence c(5, 43);
  SobolSequence plain(5);
  const Eigen::MatrixXd pa = a.next(64);
  CHECK(pa == b.next(64));
  CHECK(pa != c.next(64));
  CHECK(pa != plain.next(64));
  // The digital shift moves the first point away from the origin.
  CHECK_FALSE(pa.row(0).isZero());
}

TEST_CASE("Sobol: a dimension's scrambling does not depend on the total dimension", "[sobol]") {
  SobolSequence small(3, 11);
  SobolSequence large(40, 11);
  const Eigen::MatrixXd ps = small.next(32);
  const Eigen::MatrixXd pl = large.next(32);
  CHECK(ps == pl.leftCols(3));
}

TEST_CASE("Sobol: next(n) equals n calls of next()", "[sobol]") {
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{8}}) {
    SobolSequence batch(6, seed);
    SobolSequence single(6, seed);
    batch.next(3);
    for (int i = 0; i < 3; ++i) single.next();
    const Eigen::MatrixXd pts = batch.next(100);
    REQUIRE(pts.rows() == 100);
    REQUIRE(pts.cols() == 6);
    for (int i = 0; i < 100; ++i) CHECK(pts.row(i).transpose() == single.next());
    CHECK(batch.index() == 103);
    CHECK(single.index() == 103);
  }
  SobolSequence seq(2);
  CHECK(seq.next(0).rows() == 0);
  CHECK_THROWS_AS(seq.next(-1), PlannerError);
}

TEST_CASE("Sobol: skip lands on the same point as drawing the skipped points", "[sobol]") {
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{12}}) {
    for (std::uint64_t n : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{5},
                            std::uint64_t{64}, std::uint64_t{1000}, std::uint64_t{100003}}) {
      INFO("seed " << seed << ", skip " << n);
      SobolSequence jumped(4, seed);
      SobolSequence walked(4, seed);
      jumped.next();  // skip from a non-zero position too
      walked.next();
      jumped.skip(n);
      for (std::uint64_t i = 0; i < n; ++i) walked.next();
      CHECK(jumped.index() == n + 1);
      CHECK(jumped.next(3) == walked.next(3));
    }
  }
}

TEST_CASE("Sobol: the sequence ends after 2^32 points", "[sobol]") {
  SobolSequence seq(3, 0);
  seq.skip(SobolSequence::kMaxPoints - 1);
  const Eigen::VectorXd last = seq.next();
  // Rank 2^32 - 1 has Gray code 2^31, so the last point uses v_32 alone: 2^-32 in dimension 1.
  CHECK(last[0] == std::ldexp(1.0, -32));
  CHECK(seq.index() == SobolSequence::kMaxPoints);
  CHECK_THROWS_AS(seq.next(), PlannerError);
  CHECK_THROWS_AS(seq.skip(1), PlannerError);
  SobolSequence other(3);
  CHECK_THROWS_AS(other.skip(SobolSequence::kMaxPoints + 1), PlannerError);
}

TEST_CASE("Sobol: dimensions outside 1..kMaxDim are rejected", "[sobol]") {
  CHECK_THROWS_AS(SobolSequence(0), PlannerError);
  CHECK_THROWS_AS(SobolSequence(-3), PlannerError);
  CHECK_THROWS_AS(SobolSequence(kMaxDim + 1), PlannerError);
  CHECK_THROWS_AS(SobolSequence(kMaxDim + 1, 5), PlannerError);
  CHECK_NOTHROW(SobolSequence(1));
  CHECK_NOTHROW(SobolSequence(kMaxDim, 5));
  CHECK(SobolSequence::kMaxDim >= 200);
}
