#pragma once
// `labloop keys new/list/revoke`: the key files of a closed lab (docs/security.md). Keys are in
// core/key_file.hpp's format; new pairs come from journal/signing.hpp's generate_key_pair.
#include <CLI/CLI.hpp>

#include <string>

namespace labloop::cli {

struct KeysCommand {
  std::string name;            // new: NAME; revoke: NAME or a .pub file
  std::string dir = "keys";    // new: --dir; list: DIR
  std::string allowed;         // revoke: --allowed DIR (a driver's allow-list directory)
  CLI::App* new_cmd = nullptr;
  CLI::App* list_cmd = nullptr;
  CLI::App* revoke_cmd = nullptr;
};

// Registers `keys` and its three verbs on `app`; returns the `keys` subcommand.
CLI::App* add_keys_command(CLI::App& app, KeysCommand& command);

// Runs the verb that was parsed. Exit codes: 0 done; 1 a problem (it says what: a key that exists
// already, a name not in the allow-list, a damaged key; `list` also exits 1 when any secret key
// may be read by others, after listing every key). Errors are thrown as labloop::Error.
int run_keys(const KeysCommand& command);

}  // namespace labloop::cli
