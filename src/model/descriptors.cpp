// Descriptor tables and the features the model sees (descriptors.hpp).
//
// Reduction: principal components of the standardized descriptors (SVD of the centred matrix),
// as EDBO does, so a thousand correlated descriptors of a dozen choices become the few directions
// in which the choices differ. The joint scaling keeps distances Euclidean in the standardized
// space, so a shared lengthscale over a parameter's features means "how far apart two choices are".
#include "labloop/model/descriptors.hpp"

#include <fmt/format.h>

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/space.hpp"

namespace labloop {

namespace {

namespace fs = std::filesystem;

// Rows of a long table: a dataset's descriptors.csv (suzuki_edbo's has ~47,000) fits easily.
constexpr std::size_t kMaxDescriptorRows = 200'000;

bool is_number(const std::string& text) { return parse_number(text).has_value(); }

std::string choices_list(const Parameter& p) {
  std::string s;
  for (size_t i = 0; i < p.choices.size() && i < 10; ++i) s += (i ? ", " : "") + p.choices[i];
  if (p.choices.size() > 10) s += fmt::format(", … ({} in all)", p.choices.size());
  return s;
}

}  // namespace

namespace {

// How a table is read: named by the campaign (the parameter's rows must be there and sound: a
// damaged file is the person's to mend) or adopted from a dataset (a file without them is no
// error: nullopt). Either way other parameters' rows are skipped unread, as they always were: a
// campaign folder of an earlier version must verify and resume with the file it names.
enum class Reading { named, adopted };

std::optional<DescriptorTable> read_table(const fs::path& file, const Parameter& parameter, Reading reading) {
  const std::string name = file.string();
  auto fail = [&](const std::string& why) { throw Error(fmt::format("descriptor table {}: {}", name, why)); };
  if (parameter.type != ParameterType::categorical) fail(fmt::format("\"{}\" is not categorical: only categorical parameters take descriptors", parameter.name));
  std::error_code ec;
  const auto bytes = fs::file_size(file, ec);
  if (ec) fail("cannot read the file (does it exist? a relative path is taken from the campaign file's folder)");
  if (bytes > kMaxDescriptorFileBytes)
    fail(fmt::format("is {} bytes; at most {} (4 MiB) are allowed: keep only the rows of this parameter's choices", bytes, kMaxDescriptorFileBytes));
  CsvLimits limits;
  limits.max_rows = kMaxDescriptorRows;
  limits.max_bytes = kMaxDescriptorFileBytes;
  limits.max_columns = kMaxDescriptors + 1;
  const CsvTable table = read_csv_table(file, limits);

  std::map<std::string, size_t> choice_index;
  for (size_t c = 0; c < parameter.choices.size(); ++c) choice_index.emplace(parameter.choices[c], c);
  DescriptorTable out;
  std::vector<std::vector<std::optional<double>>> cells(parameter.choices.size());
  std::map<std::string, size_t> name_index;
  auto add_name = [&](const std::string& n, size_t line) {
    auto [it, inserted] = name_index.emplace(n, out.names.size());
    if (inserted) {
      if (out.names.size() == kMaxDescriptors)
        fail(fmt::format("line {}: more than {} descriptors for \"{}\"; at most {} are allowed (keep the informative ones)", line, kMaxDescriptors,
                         parameter.name, kMaxDescriptors));
      out.names.push_back(n);
      for (auto& row : cells) row.emplace_back();
    }
    return it->second;
  };
  auto choice_of = [&](const std::string& option, size_t line) {
    const auto it = choice_index.find(option);
    if (it == choice_index.end())
      fail(fmt::format("line {}: option \"{}\" is not one of the choices of \"{}\" ({}): remove its rows or add it to the choices", line, option,
                       parameter.name, choices_list(parameter)));
    return it->second;
  };
  auto set = [&](size_t c, size_t k, const std::string& text, size_t line, size_t column) {
    const auto v = parse_number(text);
    if (!v)
      fail(fmt::format("line {}, column {}: descriptor \"{}\" of option \"{}\" is \"{}\", not a finite number: correct it", line, column, out.names[k],
                       parameter.choices[c], text));
    if (cells[c][k]) fail(fmt::format("line {}: descriptor \"{}\" of option \"{}\" is given twice; give it once", line, out.names[k], parameter.choices[c]));
    cells[c][k] = *v;
  };

  const std::vector<std::string>& h = table.header;
  const bool header_is_row = h.size() == 4 && is_number(h[3]) && !is_number(h[2]);
  // A long row names its descriptor in column 3, a wide row has a number there. The rows vote,
  // so one damaged row (a text value in the first) cannot make a long file read as wide (its
  // every option then "not a choice", or a dataset's parameters silently one-hot).
  const bool long_format = h.size() == 4 && (header_is_row || [&] {
                             const auto named = std::count_if(table.rows.begin(), table.rows.end(), [](const CsvRow& r) { return !is_number(r.fields[2]); });
                             return 2 * static_cast<size_t>(named) > table.rows.size();
                           }());
  if (long_format) {
    std::vector<CsvRow> rows;
    if (header_is_row) rows.push_back(CsvRow{1, h});
    rows.insert(rows.end(), table.rows.begin(), table.rows.end());
    bool any = false;
    std::vector<std::string> others;
    for (const CsvRow& r : rows) {
      if (r.fields[0] != parameter.name) {
        if (others.size() < 10 && std::find(others.begin(), others.end(), r.fields[0]) == others.end()) others.push_back(r.fields[0]);
        continue;
      }
      any = true;
      const size_t c = choice_of(r.fields[1], r.line);
      set(c, add_name(r.fields[2], r.line), r.fields[3], r.line, 4);
    }
    if (!any && reading == Reading::adopted) return std::nullopt;
    if (!any)
      fail(fmt::format("has no rows for parameter \"{}\" (long format: parameter,option,descriptor,value; the file names {})", parameter.name,
                       others.empty() ? std::string("none") : fmt::format("{}", fmt::join(others, ", "))));
  } else {
    if (h.size() < 2) fail("needs a descriptor column: a header option,<descriptor>,… then one row per option (wide), or rows parameter,option,descriptor,value (long)");
    for (size_t k = 1; k < h.size(); ++k) {
      if (name_index.count(h[k])) fail(fmt::format("line 1: descriptor \"{}\" is named twice in the header", h[k]));
      add_name(h[k], 1);
    }
    for (const CsvRow& r : table.rows) {
      const size_t c = choice_of(r.fields[0], r.line);
      for (size_t k = 1; k < r.fields.size(); ++k) set(c, k - 1, r.fields[k], r.line, k + 1);
    }
  }
  for (size_t c = 0; c < cells.size(); ++c) {
    std::vector<double> row;
    for (size_t k = 0; k < cells[c].size(); ++k) {
      if (!cells[c][k]) {
        const bool none = std::none_of(cells[c].begin(), cells[c].end(), [](const auto& v) { return v.has_value(); });
        if (none) fail(fmt::format("choice \"{}\" of \"{}\" has no descriptors: add its rows (every choice needs every descriptor)", parameter.choices[c], parameter.name));
        fail(fmt::format("choice \"{}\" of \"{}\" lacks descriptor \"{}\": add it (every choice needs every descriptor)", parameter.choices[c], parameter.name,
                         out.names[k]));
      }
      row.push_back(*cells[c][k]);
    }
    out.values.push_back(std::move(row));
  }
  return out;
}

void keep(Parameter& parameter, const fs::path& file, DescriptorTable table) {
  parameter.descriptors = file.string();
  parameter.descriptor_names = std::move(table.names);
  parameter.descriptor_values = std::move(table.values);
}

}  // namespace

DescriptorTable read_descriptor_table(const fs::path& file, const Parameter& parameter) { return *read_table(file, parameter, Reading::named); }

void attach_descriptors(Parameter& parameter, const fs::path& file) { keep(parameter, file, read_descriptor_table(file, parameter)); }

std::vector<std::string> adopt_descriptors(std::vector<Parameter>& parameters, const fs::path& file) {
  std::vector<std::string> one_hot;
  for (Parameter& p : parameters) {
    if (p.type != ParameterType::categorical || !p.descriptors.empty() || p.one_hot_only) continue;
    try {
      // No rows for it: the file describes other parameters, and one-hot is no news.
      if (auto table = read_table(file, p, Reading::adopted)) keep(p, file, std::move(*table));
    } catch (const Error& e) {
      // Rows for it that cannot be used (a value not a number, a choice missing): not refused,
      // the file is the dataset's, but said, or the model's inputs change without a word.
      one_hot.push_back(fmt::format("parameter '{}' stays one-hot: {}", p.name, e.what()));
    }
  }
  return one_hot;
}

Eigen::MatrixXd descriptor_features(const std::vector<std::vector<double>>& values, int max_components) {
  const Eigen::Index n = static_cast<Eigen::Index>(values.size());
  const Eigen::Index k = n > 0 ? static_cast<Eigen::Index>(values.front().size()) : 0;
  Eigen::MatrixXd x(n, k);
  for (Eigen::Index i = 0; i < n; ++i) {
    if (static_cast<Eigen::Index>(values[static_cast<size_t>(i)].size()) != k) throw PlannerError("descriptors: every choice needs the same number of descriptors");
    for (Eigen::Index j = 0; j < k; ++j) x(i, j) = values[static_cast<size_t>(i)][static_cast<size_t>(j)];
  }
  if (!x.allFinite()) throw PlannerError("descriptors: values must be finite");
  // Standardize; a column whose spread is negligible against its magnitude (equal values, or
  // equal but for rounding) is constant. The test is relative only: the same energies in joules
  // (~1e-18) and in eV vary alike. Each column is first divided by the power of two nearest its
  // largest magnitude, which is exact, so ordinary columns standardize to the same bits, and
  // squares neither underflow (1e-200) nor overflow (1e200).
  std::vector<Eigen::VectorXd> kept;
  for (Eigen::Index j = 0; j < k && n > 1; ++j) {
    const double magnitude = x.col(j).cwiseAbs().maxCoeff();
    if (magnitude == 0) continue;
    const Eigen::VectorXd col = x.col(j) / std::ldexp(1.0, std::ilogb(magnitude));
    const double mean = col.mean();
    const double sd = std::sqrt((col.array() - mean).square().mean());
    if (!(sd > 1e-12 * col.cwiseAbs().maxCoeff())) continue;
    const Eigen::VectorXd z = (col.array() - mean) / sd;
    bool duplicate = false;
    for (const Eigen::VectorXd& other : kept)
      if ((other - z).cwiseAbs().maxCoeff() < 1e-9 || (other + z).cwiseAbs().maxCoeff() < 1e-9) {
        duplicate = true;
        break;
      }
    if (!duplicate) kept.push_back(z);
  }
  if (kept.empty()) return Eigen::MatrixXd(n, 0);
  Eigen::MatrixXd z(n, static_cast<Eigen::Index>(kept.size()));
  for (size_t j = 0; j < kept.size(); ++j) z.col(static_cast<Eigen::Index>(j)) = kept[j];
  const Eigen::Index cap = std::min<Eigen::Index>({z.cols(), n - 1, std::max(1, max_components)});
  Eigen::MatrixXd f;
  if (z.cols() > cap) {
    const Eigen::JacobiSVD<Eigen::MatrixXd> svd(z, Eigen::ComputeThinU);
    const Eigen::VectorXd& s = svd.singularValues();
    Eigen::Index m = 0;
    while (m < cap && s[m] > 1e-9 * s[0]) ++m;
    f = svd.matrixU().leftCols(m) * s.head(m).asDiagonal();
  } else {
    f = z;
  }
  Eigen::RowVectorXd low = f.colwise().minCoeff();
  f.rowwise() -= low;
  const double span = f.colwise().maxCoeff().maxCoeff();
  if (span > 0) f /= span;
  return f;
}

std::optional<FeatureMap> descriptor_feature_map(const Space& space, int max_components) {
  std::vector<Eigen::MatrixXd> features(static_cast<size_t>(space.size()));
  bool any = false;
  Eigen::Index inputs = 0;
  for (int i = 0; i < space.size(); ++i) {
    const Parameter& p = space.parameters()[static_cast<size_t>(i)];
    if (p.type == ParameterType::categorical && !p.descriptor_values.empty()) {
      features[static_cast<size_t>(i)] = descriptor_features(p.descriptor_values, max_components);
      any = any || features[static_cast<size_t>(i)].cols() > 0;
    }
    const Eigen::Index width = features[static_cast<size_t>(i)].cols() > 0 ? features[static_cast<size_t>(i)].cols() : p.cube_width();
    inputs += width;
  }
  if (!any) return std::nullopt;
  FeatureMap map;
  map.matrix = Eigen::MatrixXd::Zero(inputs, space.cube_dim());
  Eigen::Index row = 0;
  for (int i = 0; i < space.size(); ++i) {
    const Parameter& p = space.parameters()[static_cast<size_t>(i)];
    const Eigen::MatrixXd& f = features[static_cast<size_t>(i)];
    const int offset = space.offset(i);
    if (f.cols() > 0) {
      // Feature j of a one-hot x is Σ_c x_c f(c, j) = f(choice, j).
      for (Eigen::Index j = 0; j < f.cols(); ++j, ++row) {
        map.matrix.block(row, offset, 1, f.rows()) = f.col(j).transpose();
        map.groups.push_back(i);
      }
    } else {
      for (int c = 0; c < p.cube_width(); ++c, ++row) {
        map.matrix(row, offset + c) = 1.0;
        map.groups.push_back(i);
      }
    }
  }
  return map;
}

}  // namespace labloop
