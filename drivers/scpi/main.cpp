// labloop-driver-scpi CONFIG [--endpoint ADDRESS] [--cache FILE] [--key KEYS/NAME --allowed FILE_OR_DIR]
//                     [--require-encryption] [--exclusive | --no-exclusive] [--lease SECONDS]
// Serves an SCPI instrument as a labloop instrument (README.md beside this file).
#include "scpi_driver.hpp"

int main(int argc, char** argv) {
  return labloop::ready::run_ready_driver(
      argc, argv, "labloop-driver-scpi",
      "labloop-driver-scpi: an instrument that speaks SCPI (over TCP or a serial line) as a labloop instrument; the config says which "
      "commands set the inputs and which queries read the outputs (drivers/scpi/README.md)",
      [](const std::string& file) {
        labloop::scpi::ScpiConfig config = labloop::scpi::read_scpi_config(file);
        // Another instrument, or other commands, measure otherwise: a cache of theirs is refused.
        nlohmann::json depends;
        for (const char* field : {"address", "identity", "setup", "run", "measure"})
          if (config.declared.source.contains(field)) depends[field] = config.declared.source[field];
        labloop::ready::ReadyDriver ready{nullptr, config.declared.endpoint, depends,
                                          "what was sent to the instrument and its replies are kept in " + config.runs_dir.string()};
        auto driver = std::make_unique<labloop::scpi::ScpiDriver>(std::move(config));
        driver->connect_now();  // a wrong address or instrument is a message now, not a failed first experiment
        ready.driver = std::move(driver);
        return ready;
      });
}
