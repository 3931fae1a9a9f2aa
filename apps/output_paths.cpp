#include "apps/output_paths.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "datasets/idx.hpp"
#include "datasets/image_folder.hpp"

namespace proact::apps {

namespace fs = std::filesystem;

namespace {

bool path_exists(const fs::path& path) {
    std::error_code ignored;
    return fs::exists(path, ignored);
}

// The path with every symbolic link and "." / ".." resolved as far as it exists.
fs::path resolved(const std::string& path) {
    std::error_code error;
    fs::path absolute = fs::absolute(path, error);
    if (error) return fs::path(path).lexically_normal();
    fs::path canonical = fs::weakly_canonical(absolute, error);
    return error ? absolute.lexically_normal() : canonical;
}

// The same file: one inode when both exist (hard links too), else the same resolved path.
bool same_file(const std::string& a, const std::string& b) {
    if (path_exists(a) && path_exists(b)) {
        std::error_code error;
        return fs::equivalent(a, b, error) && !error;
    }
    return resolved(a) == resolved(b);
}

}  // namespace

void OutputPlan::input(const std::string& flag, const std::string& path) {
    if (!path.empty()) inputs_.push_back({flag, path});
}

void OutputPlan::inputs(const std::string& flag, const std::vector<std::string>& paths) {
    for (const std::string& path : paths) input(flag, path);
}

void OutputPlan::data_set(const std::string& dataset, const std::string& data_dir) {
    // The registry reads fashion-mnist from its default folder when --data-dir is not given; the
    // other data sets need the flag (their loaders say so).
    const std::string folder =
        !data_dir.empty() ? data_dir : dataset == "fashion-mnist" ? datasets::kDefaultFashionMnistDir : "";
    if (!folder.empty()) data_sets_.push_back({dataset, folder});
}

void OutputPlan::output(const std::string& flag, const std::string& path) {
    if (!path.empty()) outputs_.push_back({flag, path});
}

void OutputPlan::output_folder(const std::string& flag, const std::string& path) {
    if (!path.empty()) folders_.push_back({flag, path});
}

namespace {

// Whether the reader of `dataset` reads `file` of its folder. Mirrors the readers (datasets/idx,
// cifar, image_folder) until datasets/registry can list a data set's files itself; outputs kept
// beside the data (a model, a log) are not data files. An unknown name counts every file.
bool is_data_file(const std::string& dataset, const fs::path& file, bool top_level) {
    const std::string name = file.filename().string();
    if (dataset == "fashion-mnist" || dataset == "mnist")
        return top_level && (name.rfind("train-", 0) == 0 || name.rfind("t10k-", 0) == 0) &&
               name.find("-ubyte") != std::string::npos;
    if (dataset == "cifar10" || dataset == "cifar100") return top_level && file.extension() == ".bin";
    if (dataset == "folder") return datasets::is_image_file_name(file);
    return true;
}

// The folder `path` would be written in, or created under: its nearest existing ancestor must be
// a folder this process may write into.
void check_writable_location(const std::string& command, const std::string& flag, const std::string& path,
                             const fs::path& folder) {
    fs::path ancestor = folder.empty() ? fs::path(".") : folder;
    while (!path_exists(ancestor) && ancestor.has_parent_path() && ancestor.parent_path() != ancestor)
        ancestor = ancestor.parent_path();
    std::error_code error;
    if (!fs::is_directory(ancestor, error))
        core::fail<core::IoError>(command, ": ", flag, " '", path, "' cannot be written: '", ancestor.string(),
                                  "' is not a folder");
    if (::access(ancestor.c_str(), W_OK | X_OK) != 0)
        core::fail<core::IoError>(command, ": ", flag, " '", path, "' cannot be written: folder '", ancestor.string(),
                                  "' is not writable (", std::strerror(errno), ")");
}

}  // namespace

void OutputPlan::check() const {
    for (const Entry& folder : folders_) {
        std::error_code error;
        const fs::file_status status = fs::status(folder.path, error);
        if (fs::exists(status) && !fs::is_directory(status))
            core::fail<core::ValueError>(command_, ": ", folder.flag, " '", folder.path,
                                         "' exists and is not a folder");
        check_writable_location(command_, folder.flag, folder.path,
                                fs::exists(status) ? fs::path(folder.path) : fs::absolute(folder.path).parent_path());
    }
    bool any_output_exists = false;
    for (size_t i = 0; i < outputs_.size(); ++i) {
        const Entry& output = outputs_[i];
        const fs::path path(output.path);
        if (!path.has_filename())
            core::fail<core::ValueError>(command_, ": ", output.flag, " '", output.path,
                                         "' names a folder; expected a file path");
        std::error_code error;
        const fs::file_status status = fs::status(path, error);
        if (fs::exists(status)) {
            any_output_exists = true;
            if (fs::is_directory(status))
                core::fail<core::ValueError>(command_, ": ", output.flag, " '", output.path,
                                             "' is a folder; expected a file path");
            if (!fs::is_regular_file(status))
                core::fail<core::ValueError>(command_, ": ", output.flag, " '", output.path,
                                             "' exists and is not a regular file; it would be replaced");
        }
        check_writable_location(command_, output.flag, output.path, fs::absolute(path, error).parent_path());
        for (const Entry& input : inputs_)
            if (same_file(output.path, input.path))
                core::fail<core::ValueError>(command_, ": ", output.flag, " '", output.path, "' is the same file as ",
                                             input.flag, " '", input.path,
                                             "': an output must not overwrite an input");
        for (size_t j = 0; j < i; ++j)
            if (same_file(output.path, outputs_[j].path))
                core::fail<core::ValueError>(command_, ": ", output.flag, " '", output.path, "' and ",
                                             outputs_[j].flag, " '", outputs_[j].path,
                                             "' are the same file: the second write would replace the first");
    }
    // An output that does not exist yet cannot be a data file; only walk the folders otherwise.
    if (!any_output_exists) return;
    for (const DataSet& data : data_sets_) {
        std::error_code error;
        fs::recursive_directory_iterator walk(data.folder, fs::directory_options::skip_permission_denied, error);
        if (error) continue;  // a missing folder: the data set's reader names it
        for (; walk != fs::recursive_directory_iterator(); walk.increment(error)) {
            if (error) break;
            if (!walk->is_regular_file(error) || !is_data_file(data.name, walk->path(), walk.depth() == 0)) continue;
            for (const Entry& output : outputs_)
                if (path_exists(output.path) && same_file(output.path, walk->path().string()))
                    core::fail<core::ValueError>(command_, ": ", output.flag, " '", output.path, "' is the file '",
                                                 walk->path().string(), "' of data set ", data.name,
                                                 ": an output must not overwrite an input");
        }
    }
}

std::string partial_path(const std::string& output) { return output + ".partial"; }

bool announce_partial(const std::string& partial, bool resume, const char* work, const char* fresh) {
    const bool exists = std::filesystem::exists(partial);
    if (resume)
        std::fprintf(stderr, exists ? "resuming from %s\n" : "no %s to resume from: %s\n", partial.c_str(), fresh);
    else if (exists)
        std::fprintf(stderr, "%s holds an interrupted %s: starting over (--resume continues it)\n", partial.c_str(), work);
    return exists;
}

}  // namespace proact::apps
