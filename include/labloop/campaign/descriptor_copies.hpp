#pragma once
// A campaign folder holds what it needs to resume and replay anywhere: the journal names each
// descriptor table by its absolute path (model/descriptors.hpp), and a folder moved to another
// place or machine — or a dataset's data directory moved by an upgrade — would leave that path
// dangling. So a new campaign keeps a copy of each table beside its journal, and resume and
// replay fall back to it (or, for folders written before copies were kept, to the dataset's own
// descriptors.csv where the journal names one).
#include <filesystem>
#include <nlohmann/json.hpp>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/simulator_catalogue.hpp"

namespace labloop {

// The copy's name in the campaign folder: "<parameter>.descriptors.csv", after the first parameter
// that names the table (parameter names are unique, so two tables of one file name never collide;
// a table several parameters name, such as a dataset's descriptors.csv, is kept once).
std::filesystem::path descriptor_copy_name(const std::string& parameter);

// Copies each table the parameters name into `folder` (replacing a file of that name), written
// whole then renamed, and returns {"<path as the parameters name it>": "<SHA-256 of the bytes
// copied>", …} for the journal (an empty object when no parameter has descriptors). Throws Error
// when a table cannot be read or the copy cannot be written.
nlohmann::json keep_descriptor_copies(const CampaignConfig& config, const std::filesystem::path& folder);

// For a journaled configuration (its "parameters" and "instruments" as journaled): each
// parameter whose "descriptors" file no longer exists is pointed at the copy in `folder` (empty:
// none), else, when the journal named a dataset's descriptors.csv, at that dataset's file in
// today's data directory. With the SHA-256 the journal recorded for a table (`recorded`, as
// keep_descriptor_copies returned; null for journals written before), a file that exists but
// has other bytes counts as gone too: the copy replaces it when its bytes are the recorded ones
// (a data directory updated since), and otherwise Error names the file and both digests. Paths
// with no replacement are left as they are (reading them then fails with the file named).
void find_moved_descriptors(nlohmann::json& config, const std::filesystem::path& folder, const SimulatorCatalogue& simulators,
                            const nlohmann::json& recorded = nullptr);

}  // namespace labloop
