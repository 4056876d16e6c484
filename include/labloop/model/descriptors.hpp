#pragma once
// Chemistry-aware categorical inputs (EDBO's approach: Shields et al., Nature 2021): each choice of
// a categorical parameter described by numeric descriptors, which the model may see instead of
// the choice's one-hot coordinates.
//
// The Space's cube is unchanged (one-hot per categorical, docs: space.hpp): descriptors are a
// linear map from the cube to the model's inputs (FeatureMap), applied inside the kernel
// (GaussianProcessOptions::input_map), so proposals, pools, journals and decoding stay in the cube
// and a proposal is always one of the declared choices.
#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "labloop/core/parameter.hpp"

namespace labloop {

class Space;

// Stated limits (docs/config.md): descriptor columns per parameter, the table's file size, and
// the components the model keeps per parameter after reduction.
constexpr std::size_t kMaxDescriptors = 4096;  // suzuki_edbo describes an electrophile by ~1,600
constexpr std::uintmax_t kMaxDescriptorFileBytes = 4u << 20;  // 4 MiB
constexpr int kMaxDescriptorComponents = 8;

struct DescriptorTable {
  std::vector<std::string> names;           // one per descriptor, in the file's order
  std::vector<std::vector<double>> values;  // one row per choice of the parameter (its order), one value per name
};

// Reads the descriptors of categorical parameter `parameter`'s choices from `file`, in either
// format (CSV, RFC 4180 quoting):
//  - long: rows `parameter,option,descriptor,value`, with or without a header line; rows naming
//    other parameters are skipped (a dataset's descriptors.csv describes several);
//  - wide: a header `option,<descriptor>,<descriptor>,…`, then one row per option.
// Long is recognised by four columns whose third is a name in most rows. Throws Error
// naming the file (and line) and what to do: a file missing, over kMaxDescriptorFileBytes or over
// kMaxDescriptors columns; an option that is not a choice; a choice without descriptors or missing
// one; a value that is not a finite number; a descriptor given twice for an option.
DescriptorTable read_descriptor_table(const std::filesystem::path& file, const Parameter& parameter);

// read_descriptor_table, then the parameter keeps the table and `file` (as given: pass an absolute
// path for a journaled config, so replay reads the same file). Throws as read_descriptor_table.
void attach_descriptors(Parameter& parameter, const std::filesystem::path& file);

// A dataset's descriptors.csv for every categorical parameter that names none and is not
// one_hot_only, when the file describes each of its choices with numbers; any other parameter
// stays as it is (nothing is refused: the file is the dataset's, not the person's). Only the
// parameter's own rows are read. Returns one line per parameter that has rows in the file but
// stays one-hot, with the reason (file, line, column): for the person to hear. What a campaign
// file on a dataset simulator and `labloop bench --suite real` both do.
std::vector<std::string> adopt_descriptors(std::vector<Parameter>& parameters, const std::filesystem::path& file);

// The model's features of a parameter's choices from their descriptors (rows: choices; columns:
// descriptors): columns constant over the choices dropped, then duplicates (equal, or equal up to
// sign, once standardized), the rest standardized; reduced by principal components to
// min(columns, choices − 1, max_components) when there are more; finally shifted to start at 0 and
// scaled jointly (one factor for all columns, so the leading component spans [0, 1] and the others
// keep their relative spread). A matrix with no columns when no descriptor varies.
Eigen::MatrixXd descriptor_features(const std::vector<std::vector<double>>& values, int max_components = kMaxDescriptorComponents);

// Cube point x (Space::cube_dim) → the model's inputs matrix · x. Every coordinate of a parameter
// without descriptors passes through; a categorical parameter with descriptors contributes its
// features (a one-hot x gives exactly its choice's row of descriptor_features). `groups` gives
// each input's parameter index (for shared lengthscales and the additive kernel).
struct FeatureMap {
  Eigen::MatrixXd matrix;   // inputs × cube_dim
  std::vector<int> groups;  // one per input
};
// Nothing when no parameter has descriptors that vary over its choices.
std::optional<FeatureMap> descriptor_feature_map(const Space& space, int max_components = kMaxDescriptorComponents);

}  // namespace labloop
