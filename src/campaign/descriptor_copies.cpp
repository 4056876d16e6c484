#include "labloop/campaign/descriptor_copies.hpp"

#include <fmt/format.h>

#include <map>
#include <optional>

#include "labloop/campaign/file_digest.hpp"
#include "labloop/core/append_file.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/descriptors.hpp"

namespace labloop {

namespace fs = std::filesystem;

namespace {

// A table's bytes, or nothing when it cannot be read or is over the tables' limit (reading it as
// a table then says which).
std::optional<std::string> table_bytes(const fs::path& file) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(file, ec);
  if (ec || size > kMaxDescriptorFileBytes) return std::nullopt;
  try {
    return file_bytes(file, kMaxDescriptorFileBytes, "the descriptors file");
  } catch (const Error&) {
    return std::nullopt;  // replaced by a pipe or grown since: the caller's message names the limit
  }
}

}  // namespace

std::filesystem::path descriptor_copy_name(const std::string& parameter) { return parameter + ".descriptors.csv"; }

nlohmann::json keep_descriptor_copies(const CampaignConfig& config, const fs::path& folder) {
  nlohmann::json digests = nlohmann::json::object();  // a dataset's descriptors.csv serves every parameter: one copy
  for (const Parameter& p : config.parameters) {
    if (p.descriptors.empty() || digests.contains(p.descriptors)) continue;
    // Checked when the configuration was read; the limit again, in case it grew since.
    const std::optional<std::string> bytes = table_bytes(p.descriptors);
    if (!bytes)
      throw Error(fmt::format("cannot read the descriptors of \"{}\" ({}, at most {} bytes) to keep a copy in the campaign folder", p.name,
                              p.descriptors, kMaxDescriptorFileBytes));
    write_whole_file((folder / descriptor_copy_name(p.name)).string(), *bytes, fmt::format("the campaign's copy of the descriptors of \"{}\"", p.name));
    digests[p.descriptors] = sha256_hex(*bytes);
  }
  return digests;
}

void find_moved_descriptors(nlohmann::json& config, const fs::path& folder, const SimulatorCatalogue& simulators, const nlohmann::json& recorded) {
  auto parameters = config.find("parameters");
  if (parameters == config.end() || !parameters->is_array()) return;
  // The digest the journal recorded for a table, if any.
  auto recorded_digest = [&](const std::string& named) -> std::optional<std::string> {
    if (!recorded.is_object() || !recorded.contains(named) || !recorded[named].is_string()) return std::nullopt;
    return recorded[named].get<std::string>();
  };
  auto digest_of = [](const fs::path& file) -> std::optional<std::string> {
    const std::optional<std::string> bytes = table_bytes(file);
    return bytes ? std::optional<std::string>(sha256_hex(*bytes)) : std::nullopt;
  };
  // Decided on the journaled paths first, then applied: parameters sharing a table share its copy.
  std::map<std::string, fs::path> moved;
  for (const auto& p : *parameters) {
    if (!p.is_object() || !p.contains("descriptors") || !p["descriptors"].is_string() || !p.value("name", nlohmann::json()).is_string()) continue;
    const std::string named = p["descriptors"].get<std::string>();
    std::error_code ec;
    if (named.empty() || moved.count(named)) continue;
    const std::optional<std::string> want = recorded_digest(named);
    std::optional<std::string> now;
    if (fs::exists(named, ec)) {
      if (!want || (now = digest_of(named)) == want) continue;
    }
    std::optional<fs::path> found;
    // The copy is under the name of the first parameter that names this table; absolute, as
    // the configuration takes a relative path from its own folder (`labloop replay kept` names
    // the folder relative to the working directory).
    const fs::path copy = folder / descriptor_copy_name(p["name"].get<std::string>());
    if (!folder.empty() && fs::exists(copy, ec) && (!want || digest_of(copy) == want)) found = fs::absolute(copy, ec).lexically_normal();
    if (!found && now)
      throw Error(fmt::format("the descriptor table {} has changed since the campaign began (SHA-256 {} then, {} now) and the campaign folder "
                              "holds no copy of the original ({}): proposals were made from the original values, so restore that file to "
                              "resume or replay",
                              named, *want, *now, copy.string()));
    // Written before copies were kept: the journal named a dataset's file (.../<dataset>/descriptors.csv).
    const fs::path path = named;
    if (!found && path.filename() == "descriptors.csv" && config.contains("instruments") && config["instruments"].is_array())
      for (const auto& instrument : config["instruments"]) {
        const std::string simulator = instrument.is_object() ? instrument.value("simulator", "") : "";
        const SimulatorSpec* spec = simulator.empty() ? nullptr : simulators.find(simulator);
        if (spec && !spec->descriptors.empty() && path.parent_path().filename() == simulator && fs::exists(spec->descriptors, ec)) {
          found = fs::absolute(spec->descriptors, ec).lexically_normal();
          break;
        }
      }
    if (found) moved[named] = *found;
  }
  for (auto& p : *parameters)
    if (p.is_object() && p.contains("descriptors") && p["descriptors"].is_string())
      if (const auto it = moved.find(p["descriptors"].get<std::string>()); it != moved.end()) p["descriptors"] = it->second.string();
}

}  // namespace labloop
