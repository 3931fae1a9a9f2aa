#include "datasets/cifar.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "datasets/file_bytes.hpp"

namespace proact::datasets {

namespace {

constexpr int kCifar100CoarseClasses = 20;

// Reads CIFAR records from `files`. `label_bytes` leading bytes per record; the label used is the
// last of them, checked against `num_classes`; the others (CIFAR-100 coarse) against
// `other_label_limit`.
Dataset read_cifar_records(const std::vector<std::filesystem::path>& files, int64_t label_bytes,
                           int num_classes, int other_label_limit, const char* format_name,
                           const ReadLimits& limits) {
    if (files.empty()) core::fail<core::ValueError>(format_name, ": no files given");
    const int64_t record_bytes = label_bytes + kCifarImageBytes;

    std::vector<std::vector<uint8_t>> contents;
    int64_t total_records = 0;
    for (const std::filesystem::path& file : files) {
        contents.push_back(read_file_bytes(file, limits));
        const int64_t size = static_cast<int64_t>(contents.back().size());
        if (size == 0)
            core::fail<core::FormatError>(format_name, ": '", file.string(), "' is empty, expected ", record_bytes,
                                          "-byte records");
        if (size % record_bytes != 0)
            core::fail<core::FormatError>(format_name, ": '", file.string(), "' holds ", size,
                                          " bytes, not a multiple of the ", record_bytes, "-byte record (",
                                          size / record_bytes, " whole records and ", size % record_bytes,
                                          " bytes left over; truncated?)");
        total_records += size / record_bytes;
    }

    Dataset dataset;
    // The records' pixel bytes, without their labels; Dataset converts them to pixel/255 per batch.
    std::vector<uint8_t> pixels(static_cast<size_t>(total_records * kCifarImageBytes));
    dataset.labels.resize(static_cast<size_t>(total_records));
    dataset.num_classes = num_classes;
    int64_t sample = 0;
    for (size_t file_index = 0; file_index < files.size(); ++file_index) {
        const std::vector<uint8_t>& bytes = contents[file_index];
        const int64_t records = static_cast<int64_t>(bytes.size()) / record_bytes;
        for (int64_t record = 0; record < records; ++record, ++sample) {
            const uint8_t* base = bytes.data() + record * record_bytes;
            for (int64_t b = 0; b + 1 < label_bytes; ++b)
                if (base[b] >= other_label_limit)
                    core::fail<core::FormatError>(format_name, ": '", files[file_index].string(), "' record ", record,
                                                  " has coarse label ", int(base[b]), ", expected [0, ",
                                                  other_label_limit, ")");
            const uint8_t label = base[label_bytes - 1];
            if (label >= num_classes)
                core::fail<core::FormatError>(format_name, ": '", files[file_index].string(), "' record ", record,
                                              " has label ", int(label), ", expected [0, ", num_classes, ")");
            dataset.labels[static_cast<size_t>(sample)] = label;
            std::copy_n(base + label_bytes, kCifarImageBytes, pixels.begin() + sample * kCifarImageBytes);
        }
        std::vector<uint8_t>().swap(contents[file_index]);  // copied: its memory goes back now
    }
    dataset.set_pixel_bytes(std::move(pixels), {3, 32, 32});
    return dataset;
}

// Anything present counts, so that a FIFO or a symbolic link loop under the expected name is
// refused by the reader with what it is, instead of reported as missing.
std::filesystem::path require_file(const std::filesystem::path& path, const char* format_name) {
    std::error_code error;
    if (std::filesystem::symlink_status(path, error).type() == std::filesystem::file_type::not_found || error)
        core::fail<core::IoError>(format_name, ": '", path.string(), "' does not exist");
    return path;
}

void check_split(std::string_view split, const char* format_name) {
    if (split != "train" && split != "test")
        core::fail<core::ValueError>(format_name, ": split must be \"train\" or \"test\", got \"", split, "\"");
}

void check_pixel_count(std::span<const uint8_t> pixels, size_t records, const std::filesystem::path& path,
                       const char* writer) {
    if (pixels.size() != records * static_cast<size_t>(kCifarImageBytes))
        core::fail<core::ShapeError>(writer, ": '", path.string(), "': ", records, " records need ",
                                     records * static_cast<size_t>(kCifarImageBytes), " pixel bytes, got ",
                                     pixels.size());
}

}  // namespace

Dataset read_cifar10_files(const std::vector<std::filesystem::path>& files, std::string name,
                           const ReadLimits& limits) {
    Dataset dataset = read_cifar_records(files, 1, 10, 0, "cifar10", limits);
    dataset.name = std::move(name);
    dataset.class_names = cifar10_class_names();
    return dataset;
}

Dataset read_cifar100_files(const std::vector<std::filesystem::path>& files, std::string name,
                            const ReadLimits& limits) {
    Dataset dataset = read_cifar_records(files, 2, 100, kCifar100CoarseClasses, "cifar100", limits);
    dataset.name = std::move(name);
    dataset.class_names = cifar100_class_names();
    return dataset;
}

Dataset load_cifar10(const std::filesystem::path& directory, std::string_view split, const ReadLimits& limits) {
    check_split(split, "cifar10");
    std::vector<std::filesystem::path> files;
    if (split == "train") {
        for (int batch = 1; batch <= 5; ++batch)
            files.push_back(require_file(directory / ("data_batch_" + std::to_string(batch) + ".bin"), "cifar10"));
    } else {
        files.push_back(require_file(directory / "test_batch.bin", "cifar10"));
    }
    return read_cifar10_files(files, "cifar10-" + std::string(split), limits);
}

Dataset load_cifar100(const std::filesystem::path& directory, std::string_view split, const ReadLimits& limits) {
    check_split(split, "cifar100");
    const std::filesystem::path file = require_file(directory / (std::string(split) + ".bin"), "cifar100");
    return read_cifar100_files({file}, "cifar100-" + std::string(split), limits);
}

void write_cifar10_file(const std::filesystem::path& path, std::span<const uint8_t> pixels,
                        std::span<const uint8_t> labels) {
    check_pixel_count(pixels, labels.size(), path, "write_cifar10_file");
    std::vector<uint8_t> bytes;
    bytes.reserve(labels.size() * static_cast<size_t>(kCifar10RecordBytes));
    for (size_t record = 0; record < labels.size(); ++record) {
        bytes.push_back(labels[record]);
        const auto image = pixels.subspan(record * kCifarImageBytes, kCifarImageBytes);
        bytes.insert(bytes.end(), image.begin(), image.end());
    }
    write_file_bytes(path, bytes, false);
}

void write_cifar100_file(const std::filesystem::path& path, std::span<const uint8_t> pixels,
                         std::span<const uint8_t> coarse_labels, std::span<const uint8_t> fine_labels) {
    if (coarse_labels.size() != fine_labels.size())
        core::fail<core::ShapeError>("write_cifar100_file: '", path.string(), "': ", coarse_labels.size(),
                                     " coarse labels but ", fine_labels.size(), " fine labels");
    check_pixel_count(pixels, fine_labels.size(), path, "write_cifar100_file");
    std::vector<uint8_t> bytes;
    bytes.reserve(fine_labels.size() * static_cast<size_t>(kCifar100RecordBytes));
    for (size_t record = 0; record < fine_labels.size(); ++record) {
        bytes.push_back(coarse_labels[record]);
        bytes.push_back(fine_labels[record]);
        const auto image = pixels.subspan(record * kCifarImageBytes, kCifarImageBytes);
        bytes.insert(bytes.end(), image.begin(), image.end());
    }
    write_file_bytes(path, bytes, false);
}

const std::vector<std::string>& cifar10_class_names() {
    static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                   "dog",      "frog",       "horse", "ship", "truck"};
    return names;
}

const std::vector<std::string>& cifar100_class_names() {
    // The order of fine_label_names.txt in cifar-100-binary (alphabetical).
    static const std::vector<std::string> names = {
        "apple",       "aquarium_fish", "baby",         "bear",       "beaver",      "bed",        "bee",
        "beetle",      "bicycle",       "bottle",       "bowl",       "boy",         "bridge",     "bus",
        "butterfly",   "camel",         "can",          "castle",     "caterpillar", "cattle",     "chair",
        "chimpanzee",  "clock",         "cloud",        "cockroach",  "couch",       "crab",       "crocodile",
        "cup",         "dinosaur",      "dolphin",      "elephant",   "flatfish",    "forest",     "fox",
        "girl",        "hamster",       "house",        "kangaroo",   "keyboard",    "lamp",       "lawn_mower",
        "leopard",     "lion",          "lizard",       "lobster",    "man",         "maple_tree", "motorcycle",
        "mountain",    "mouse",         "mushroom",     "oak_tree",   "orange",      "orchid",     "otter",
        "palm_tree",   "pear",          "pickup_truck", "pine_tree",  "plain",       "plate",      "poppy",
        "porcupine",   "possum",        "rabbit",       "raccoon",    "ray",         "road",       "rocket",
        "rose",        "sea",           "seal",         "shark",      "shrew",       "skunk",      "skyscraper",
        "snail",       "snake",         "spider",       "squirrel",   "streetcar",   "sunflower",  "sweet_pepper",
        "table",       "tank",          "telephone",    "television", "tiger",       "tractor",    "train",
        "trout",       "tulip",         "turtle",       "wardrobe",   "whale",       "willow_tree", "wolf",
        "woman",       "worm"};
    return names;
}

}  // namespace proact::datasets
