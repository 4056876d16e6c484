#pragma once
// labloop-driver-files: an instrument whose own software takes work from a folder and leaves
// results in another (drivers/files/README.md). Each experiment is one request file, written
// whole (under a hidden name, then renamed), and one result file of the same name that the
// instrument's software writes; a result already there when the run starts — the instrument
// finished while this driver was down — is read without asking again.
#include <labloop/driver.hpp>

#include <filesystem>
#include <string>

#include "driver_config.hpp"

#include <map>
#include <string>

namespace labloop::files {

enum class FileFormat { json, csv };

struct FilesConfig {
  ready::DeclaredInstrument declared;  // the instrument as its welcome says, timeout_s, endpoint
  std::filesystem::path requests_dir;  // "requests": where request files go
  std::filesystem::path results_dir;   // "results": where the instrument's result files appear
  std::filesystem::path asked_dir;     // what was asked under each name (CONFIG-asked beside the config)
  FileFormat format = FileFormat::json;  // "format": "json" (default) or "csv", both ways
  double poll_s = 0.2;                 // "poll_s": how often the results folder is looked at
  std::map<std::string, std::string> units;  // "units": output → the unit its values are taken in (a CSV header's "[unit]" must match)
};

// Reads and checks `file`; throws ConfigError naming the field.
FilesConfig read_files_config(const std::filesystem::path& file);

class FilesDriver final : public Driver {
 public:
  // Makes both folders when missing; throws Error when it cannot.
  explicit FilesDriver(FilesConfig config);
  InstrumentInfo describe() const override { return config_.declared.info; }
  Values run(const Params& params, std::stop_token stop) override { return run_experiment("experiment", params, stop); }
  // Writes the request, waits for the result file (whole: its size unchanged over one poll, and a
  // CSV ending with a line ending), and reads it. Throws (a failed experiment) when the result
  // says {"error": …} (an "error" column in CSV), lacks a number for an output, or does not come
  // within timeout_s. However it ends, a request not yet taken is withdrawn.
  Values run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) override;

 private:
  Values read_result(const std::filesystem::path& result) const;

  FilesConfig config_;
};

}  // namespace labloop::files
