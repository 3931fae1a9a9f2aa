// Subcommands of the `proact` command line, one file each; common.hpp holds what they share.
#pragma once

#include <CLI/CLI.hpp>

namespace proact::apps {

void register_train(CLI::App& app);
void register_eval(CLI::App& app);
void register_demo(CLI::App& app);
void register_inject(CLI::App& app);
void register_merge(CLI::App& app);
void register_harden(CLI::App& app);
void register_reproduce(CLI::App& app);
void register_tune(CLI::App& app);
void register_vuln(CLI::App& app);

}  // namespace proact::apps
