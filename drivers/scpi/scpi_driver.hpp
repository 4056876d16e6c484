#pragma once
// labloop-driver-scpi: an instrument that speaks SCPI (power supplies, meters, source-measure
// units, temperature controllers, pumps with an SCPI port) becomes a labloop instrument from a
// config file alone (drivers/scpi/README.md). Per experiment the driver sends the config's `run`
// steps with the params put in, reads each `measure` query's reply as a number, asks the
// instrument's error queue, and always sends the `finish` steps (on abort the `abort` steps first),
// so the instrument is left safe however the experiment ended. serve() does the rest of protocol
// v1: limits are checked before a setting is ever formatted into a command.
#include <labloop/driver.hpp>

#include "driver_config.hpp"
#include "scpi_link.hpp"
#include "labloop/core/error.hpp"

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace labloop::scpi {

// A command with `{input}` slots ("SOUR:VOLT {voltage}"), parsed once: `{{` and `}}` are braces.
struct CommandTemplate {
  struct Piece {
    std::string text;     // literal text, or
    int input = -1;       // the index of an input whose value goes here
  };
  std::vector<Piece> pieces;
  std::string source;     // as written, for messages
  bool query = false;     // a '?' outside quotes: one reply line comes back
};

struct Step {
  enum class Kind { command, wait, poll };
  Kind kind = Kind::command;
  CommandTemplate command;   // command: what is sent; poll: the query asked
  double seconds = 0;        // wait: how long; poll: how often
  std::string until;         // poll: the reply that ends the wait
};

struct Measurement {
  std::string output;
  CommandTemplate query;
  std::optional<int> field;  // the reply's comma-separated field (0 = first); none: the whole reply
};

struct ScpiConfig {
  ready::DeclaredInstrument declared;
  LinkAddress address;
  std::string write_termination = "\n";
  char read_termination = '\n';
  double io_timeout_s = 10;   // connecting, and each reply outside `run` and `measure`
  std::string identity;       // when set: *IDN?'s reply must contain it (case aside)
  std::vector<Step> setup, run, finish, abort;
  std::vector<Measurement> measure;  // one per output, in the outputs' order
  std::string error_query = "SYST:ERR?";  // "" = the instrument's error queue is not asked
  std::filesystem::path runs_dir;    // one transcript per experiment ("runs_dir", default CONFIG-runs)
};

// Reads and checks `file`; throws ConfigError naming the field and what to write instead.
ScpiConfig read_scpi_config(const std::filesystem::path& file);

class ScpiDriver final : public Driver {
 public:
  explicit ScpiDriver(ScpiConfig config);
  ~ScpiDriver() override;
  InstrumentInfo describe() const override { return config_.declared.info; }
  Values run(const Params& params, std::stop_token stop) override { return run_experiment("experiment", params, stop); }
  Values run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) override;
  // Connects, checks the identity and runs `setup` now, so a wrong address or instrument is an
  // error at start rather than a failed first experiment. Throws labloop::Error saying what to check.
  void connect_now();

 private:
  class Transcript;
  using Clock = ScpiLink::Clock;
  // Another instrument answers at the address: nothing more is sent to it.
  class IdentityMismatch : public Error {
   public:
    using Error::Error;
  };

  void open_line(Transcript& transcript, std::stop_token stop, bool with_setup);
  void ensure_connected(Transcript& transcript, std::stop_token stop);
  void do_step(const Step& step, const Params& params, Transcript& transcript, Clock::time_point deadline, std::stop_token stop);
  std::string ask(const std::string& query, Transcript& transcript, Clock::time_point deadline, std::stop_token stop, bool quiet = false);
  void send(const std::string& command, Transcript& transcript, Clock::time_point deadline, std::stop_token stop);
  std::vector<std::string> pending_errors(Transcript& transcript, std::stop_token stop, int most);
  void check_errors(Transcript& transcript, std::stop_token stop, const char* after);
  std::string leave_safe(const Params& params, bool aborted, Transcript& transcript);
  std::string filled(const CommandTemplate& command, const Params& params) const;
  Clock::time_point io_deadline() const;
  Clock::time_point deadline_outside_run(const Step& step) const;

  ScpiConfig config_;
  std::unique_ptr<ScpiLink> link_;
  bool set_up_ = false;  // link_ has had its setup (a line opened to leave the instrument safe has not)
  bool measuring_ = false;  // reading an experiment's values: a line nobody asked for fails it (ask)
  std::vector<const CommandTemplate*> templates_;  // every one params go into, for checking them first
};

}  // namespace labloop::scpi
