// What a command reads and what it writes, checked once, before any work: so that an output never
// destroys an input, and a run does not fail on an unwritable path after an hour of training.
//
//   OutputPlan plan("eval");
//   plan.input("--model-file", command.model_file);
//   plan.data_set(command.dataset, command.common.data_dir);
//   plan.output("--json", command.json_path);          // an empty path is an output not asked for
//   plan.check();                                      // ValueError / IoError naming the flag
//
// check() refuses, naming the flag(s) and the path:
//  - an output that is the same file as an input: std::filesystem::equivalent when both exist
//    (hard links and symbolic links included), the same canonical path otherwise; a data set's
//    inputs are the files its reader takes from its folder (--data-dir, or the default location);
//  - two outputs that are the same file (the second would replace the first);
//  - an output that exists and is not a regular file (a folder, a device: renaming over /dev/null
//    as root would replace the device);
//  - an output whose folder cannot be created or written: the nearest existing ancestor must be a
//    writable folder. Nothing is created; the writes create missing folders.
// Every write goes through core::write_file_atomically or save_checkpoint (a temporary file
// renamed over the target), so a command that fails leaves existing outputs as they were.
#pragma once

#include <string>
#include <vector>

namespace proact::apps {

class OutputPlan {
public:
    explicit OutputPlan(std::string command) : command_(std::move(command)) {}

    // A file the command reads (`flag` names it in messages). Empty paths are skipped.
    void input(const std::string& flag, const std::string& path);
    void inputs(const std::string& flag, const std::vector<std::string>& paths);
    // The files the named data set is read from (its reader's files in its folder).
    void data_set(const std::string& dataset, const std::string& data_dir);
    // A file the command writes. Empty paths are skipped.
    void output(const std::string& flag, const std::string& path);
    // A folder the command writes into (--out-dir): it exists as a folder or can be created.
    void output_folder(const std::string& flag, const std::string& path);

    void check() const;

private:
    struct Entry {
        std::string flag, path;
    };
    std::string command_;
    std::vector<Entry> inputs_, outputs_, folders_;
    struct DataSet {
        std::string name, folder;
    };
    std::vector<DataSet> data_sets_;
};

// Where a command keeps its unfinished work until `output` is written: OUTPUT.partial (train's
// state after each epoch, inject's campaign after each point). --resume continues from it; the
// finished command removes it.
std::string partial_path(const std::string& output);

// Says on stderr what a run does with the partial state at `partial`, and returns whether the file
// exists: with --resume it continues from it (or says there is none: `fresh` is what happens
// then); without, it starts over and says --resume would continue it. `work` names the run's kind.
bool announce_partial(const std::string& partial, bool resume, const char* work, const char* fresh);

}  // namespace proact::apps
