#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <random>

#include "labloop/model/output_transform.hpp"

using namespace labloop;

namespace {

double skewness(const Eigen::VectorXd& v) {
  const double m = v.mean();
  const double s2 = (v.array() - m).square().mean();
  return (v.array() - m).cube().mean() / std::pow(s2, 1.5);
}

}  // namespace

TEST_CASE("Yeo-Johnson: lambda 1 is the identity and lambda 0 is log1p on the positive side", "[transform]") {
  for (double x : {-3.0, -0.5, 0.0, 0.7, 12.0}) CHECK(YeoJohnson::apply(x, 1.0) == Approx(x));
  CHECK(YeoJohnson::apply(2.0, 0.0) == Approx(std::log(3.0)));
  CHECK(YeoJohnson::apply(-2.0, 2.0) == Approx(-std::log(3.0)));
}

TEST_CASE("Yeo-Johnson: the transform is strictly increasing for every lambda", "[transform]") {
  for (double lambda : {-3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0}) {
    double previous = -1e300;
    for (double x = -10; x <= 10; x += 0.125) {
      const double t = YeoJohnson::apply(x, lambda);
      CHECK(t > previous);
      previous = t;
    }
  }
}

TEST_CASE("Yeo-Johnson: heavy right tails get a lambda below 1 and lose most of their skew", "[transform]") {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> heavy(0.0, 1.5);
  Eigen::VectorXd y(200);
  for (auto& v : y) v = 1000 * heavy(rng);
  YeoJohnson warp;
  warp.fit(y);
  CHECK(warp.lambda() < 0.5);
  const Eigen::VectorXd t = warp.transform(y);
  CHECK(std::abs(skewness(t)) < 0.5 * std::abs(skewness(y)));
  CHECK(t.mean() == Approx(0.0).margin(1e-9));
  // Order is preserved: the best (smallest) observation stays the best.
  Eigen::Index a = 0, b = 0;
  y.minCoeff(&a);
  t.minCoeff(&b);
  CHECK(a == b);
}

TEST_CASE("Yeo-Johnson: Gaussian data keep the identity by the likelihood-ratio test", "[transform]") {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> gauss(3.0, 2.0);
  Eigen::VectorXd y(400);
  for (auto& v : y) v = gauss(rng);
  YeoJohnson warp;
  warp.fit(y);
  CHECK(warp.lambda() == 1.0);
  CHECK(warp.transform(y).isApprox((y.array() - y.mean()).matrix() / std::sqrt((y.array() - y.mean()).square().sum() / 399.0), 1e-9));
}

TEST_CASE("Yeo-Johnson: too few or constant values leave the data unchanged up to scaling", "[transform]") {
  YeoJohnson warp;
  warp.fit(Eigen::Vector2d(1.0, 5.0));
  CHECK(warp.lambda() == 1.0);
  CHECK(warp.transform(7.0) == 7.0);
  warp.fit(Eigen::Vector3d(2.0, 2.0, 2.0));
  CHECK(warp.lambda() == 1.0);
  CHECK(std::isfinite(warp.transform(2.0)));
}

TEST_CASE("Magnitude compression: the identity up to 1e100, beyond it finite, strictly increasing and moderate", "[transform]") {
  MagnitudeCompression c;
  const Eigen::VectorXd ordinary = (Eigen::VectorXd(4) << -3e99, 1.0, 2.5, 1e99).finished();
  c.fit(ordinary);
  CHECK_FALSE(c.active());
  for (Eigen::Index i = 0; i < ordinary.size(); ++i) CHECK(c.transform(ordinary[i]) == ordinary[i]);

  const double tiny = std::numeric_limits<double>::denorm_min();
  for (const Eigen::VectorXd& y : {(Eigen::VectorXd(6) << 1e300, 1.0, 2.0, 3.0, 1e-3, -7.0).finished(),
                                   (Eigen::VectorXd(6) << DBL_MAX, -DBL_MAX, DBL_MAX, -DBL_MAX, 0.0, 1.0).finished(),
                                   (Eigen::VectorXd(4) << -1e300, -1e300, -1e300, -1e300).finished(),
                                   (Eigen::VectorXd(5) << 1e200, tiny, 2 * tiny, tiny, tiny).finished()}) {
    c.fit(y);
    CHECK(c.active());
    CHECK(c.scale() > 0);
    CHECK(std::isfinite(c.scale()));
    const Eigen::VectorXd t = c.transform(y);
    CHECK(t.allFinite());
    CHECK(t.cwiseAbs().maxCoeff() < 1500);
    for (Eigen::Index i = 0; i < y.size(); ++i)
      for (Eigen::Index j = 0; j < y.size(); ++j)
        if (y[i] < y[j]) CHECK(t[i] <= t[j]);
  }
  // One extreme value among ordinary ones: those keep their order distinctly (s is their spread).
  c.fit((Eigen::VectorXd(6) << 1e300, 1.0, 2.0, 3.0, 1e-3, -7.0).finished());
  CHECK(c.transform(-7.0) < c.transform(1e-3));
  CHECK(c.transform(1e-3) < c.transform(1.0));
  CHECK(c.transform(1.0) < c.transform(2.0));
  CHECK(c.transform(3.0) < c.transform(1e300));
  // Over the whole double range, for any scale, never an overflow.
  for (double v : {-DBL_MAX, -1e308, 0.0, tiny, 1e308, DBL_MAX}) CHECK(std::isfinite(c.transform(v)));
}

TEST_CASE("Yeo-Johnson: extreme finite values give a finite transform (no overflow in the scaling)", "[transform]") {
  for (const Eigen::VectorXd& y : {(Eigen::VectorXd(6) << 1e300, 1.0, 2.0, 3.0, 1e-3, -7.0).finished(),
                                   (Eigen::VectorXd(6) << DBL_MAX, -DBL_MAX, DBL_MAX, -DBL_MAX, 0.0, 1.0).finished(),
                                   (Eigen::VectorXd(5) << 1e200, 3e200, 1e201, 2e200, 5e200).finished(),
                                   (Eigen::VectorXd(4) << -1e300, -1e300, -1e300, -1e300).finished()}) {
    YeoJohnson warp;
    warp.fit(y);
    const Eigen::VectorXd t = warp.transform(y);
    INFO(t.transpose());
    CHECK(t.allFinite());
    for (Eigen::Index i = 0; i < y.size(); ++i) CHECK(std::isfinite(warp.derivative(y[i])));
  }
}

TEST_CASE("Half-rank warp: the better half unchanged, the worse half a Gaussian tail by rank, order kept", "[transform]") {
  // Minimized values: 1…5 the better half (median 5), then a long tail of poor ones.
  Eigen::VectorXd y(9);
  y << 1, 2, 3, 4, 5, 6, 50, 500, 5000;
  HalfRankWarp warp;
  warp.fit(y);
  REQUIRE_FALSE(warp.identity());
  const Eigen::VectorXd t = warp.transform(y);
  for (int i = 0; i < 5; ++i) CHECK(t[i] == y[i]);
  // σ = √((16 + 9 + 4 + 1 + 0) / 5) = √6; the value of 0-based rank r has quantile (r + ½) / 9.
  const double sigma = std::sqrt(6.0);
  CHECK(t[8] == Approx(5 + sigma * 1.5932).epsilon(1e-4));  // Φ⁻¹(17/18) = 1.5932
  CHECK(t[5] == Approx(5 + sigma * 0.28222).epsilon(1e-4));  // Φ⁻¹(11/18)
  for (int i = 1; i < 9; ++i) CHECK(t[i] > t[i - 1]);
  // Between and beyond fitted values: interpolated, increasing, finite.
  CHECK(warp.transform(275.0) > t[6]);
  CHECK(warp.transform(275.0) < t[7]);
  CHECK(warp.transform(1e4) > t[8]);
  CHECK(std::isfinite(warp.transform(1e300)));
  CHECK(warp.transform(-7.0) == -7.0);
}

TEST_CASE("Half-rank warp: too few distinct values or no spread in the better half leave the identity", "[transform]") {
  HalfRankWarp warp;
  Eigen::VectorXd two(4);
  two << 1, 1, 2, 2;
  warp.fit(two);
  CHECK(warp.identity());
  Eigen::VectorXd flat(5);
  flat << 0, 0, 0, 1, 2;  // a better half of zeros: no scale for the tail
  warp.fit(flat);
  CHECK(warp.identity());
  CHECK(warp.transform(3.0) == 3.0);
}

TEST_CASE("Yeo-Johnson: the identity keeps results in small units whole", "[transform]") {
  // ((y + 1) − 1) kept 8 of 53 bits of 5.28e-14: the model saw its results rounded to 0.4 %.
  const YeoJohnson identity;
  for (const double y : {0x1.dbd7ab54c3855p-45, -3e-19, 1e-300, 0x1.8p-21}) CHECK(identity.transform(y) == y);
  // At ordinary magnitudes the arithmetic is as before, bit for bit (replays of earlier campaigns).
  for (const double y : {59.4836, 0.25, -1.5, 1e-3}) CHECK(identity.transform(y) == ((y + 1) - 1));
  // A fitted λ = 1 warp scales and centres: its values are those of the data / spread.
  YeoJohnson fitted;
  fitted.fit(Eigen::Vector4d(1e-15, 2e-15, 4e-15, 3e-15));
  const Eigen::VectorXd t = fitted.transform(Eigen::VectorXd(Eigen::Vector4d(1e-15, 2e-15, 4e-15, 3e-15)));
  CHECK(t.allFinite());
  CHECK(t[2] > t[3]);
  CHECK(t[3] > t[1]);
  CHECK(t[1] > t[0]);
}
