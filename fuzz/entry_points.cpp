#include "fuzz/entry_points.hpp"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string_view>

#include "core/error.hpp"
#include "datasets/cifar.hpp"
#include "datasets/file_bytes.hpp"
#include "datasets/idx.hpp"
#include "datasets/image_folder.hpp"
#include "faults/bitflip.hpp"
#include "faults/campaign_options.hpp"
#include "faults/campaign_result.hpp"
#include "faults/report.hpp"
#include "faults/storage_format.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"
#include "proact/comparison_shards.hpp"

namespace proact::fuzz {

namespace {

namespace fs = std::filesystem;

// The readers take paths, so each input is written to a file in a folder of this process, removed
// at exit: in memory (/dev/shm) where there is one, as rewriting a truncated file on ext4 waits for
// the disk. Small limits keep every run fast and far below libFuzzer's memory limit; the readers
// check them exactly as they check the defaults.
fs::path scratch_parent() {
    std::error_code error;
    return fs::is_directory("/dev/shm", error) ? fs::path("/dev/shm") : fs::temp_directory_path();
}

struct Scratch {
    fs::path root = scratch_parent() / ("proact-fuzz-" + std::to_string(::getpid()));
    Scratch() { fs::create_directories(root); }
    ~Scratch() {
        std::error_code ignored;
        fs::remove_all(root, ignored);
    }
    fs::path write(const std::string& name, std::span<const uint8_t> bytes) const {
        const fs::path path = root / name;
        fs::create_directories(path.parent_path());
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        if (!out) throw std::runtime_error("fuzz: cannot write " + path.string());
        return path;
    }
};

const Scratch& scratch() {
    static const Scratch instance;
    return instance;
}

constexpr datasets::ReadLimits kLimits{.max_file_bytes = uint64_t(16) << 20, .max_image_pixels = uint64_t(1) << 20};

std::string_view as_text(std::span<const uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

template <class Action>
void refused_or_accepted(Action&& action) {
    try {
        action();
    } catch (const core::Error&) {
        // refused as documented
    }
}

void require(bool property, const std::string& what) {
    if (!property) throw std::logic_error("fuzz: property broken: " + what);
}

// A checkpoint: the file, its non-finite weights, its metadata and, for models small enough to
// build quickly, the model itself.
void run_safetensors(std::span<const uint8_t> bytes) {
    const std::string path = scratch().write("model.safetensors", bytes).string();
    refused_or_accepted([&] {
        const layers::Checkpoint checkpoint = layers::load_checkpoint(path);
        for (const layers::NonFiniteTensor& entry : layers::non_finite_tensors(checkpoint))
            require(entry.count() > 0 && checkpoint.tensors.count(entry.name) == 1, "non_finite_tensors entry");
        const layers::ModelInfo info = layers::model_info_from_metadata(checkpoint.metadata, "fuzz");
        if (core::numel_of(info.input_shape) <= 3 * 32 * 32 && info.num_classes <= 1000)
            layers::load_model(checkpoint, "fuzz");
    });
}

void read_idx(const fs::path& path) {
    refused_or_accepted([&] {
        const datasets::IdxImages images = datasets::read_idx_images(path, kLimits);
        require(images.count >= 1 && int64_t(images.pixels.size()) == images.count * images.rows * images.cols,
                "idx image count");
    });
    refused_or_accepted([&] { require(!datasets::read_idx_labels(path, kLimits).empty(), "idx labels"); });
    refused_or_accepted([&] { datasets::load_idx_dataset(path, path, "fuzz", datasets::mnist_class_names(), kLimits); });
}

// The bytes as an IDX file, raw or gzip as they come.
void run_idx(std::span<const uint8_t> bytes) { read_idx(scratch().write("idx", bytes)); }

// The bytes gzip-compressed first, so that the IDX header checks behind the gzip path are explored
// rather than zlib's checksums.
void run_idx_gzip(std::span<const uint8_t> bytes) {
    const fs::path path = scratch().root / "idx.gz";
    datasets::write_file_bytes(path, bytes, true);
    read_idx(path);
}

void run_cifar(std::span<const uint8_t> bytes) {
    const fs::path path = scratch().write("cifar.bin", bytes);
    refused_or_accepted([&] { datasets::read_cifar10_files({path}, "fuzz", kLimits).validate(); });
    refused_or_accepted([&] { datasets::read_cifar100_files({path}, "fuzz", kLimits).validate(); });
}

// One image in a one-class image folder, decoded and resized to 3x8x8 and 1x5x7.
void run_image(std::span<const uint8_t> bytes) {
    scratch().write("images/class/image.png", bytes);
    for (const datasets::ImageFolderOptions& options :
         {datasets::ImageFolderOptions{3, 8, 8, kLimits}, datasets::ImageFolderOptions{1, 5, 7, kLimits}})
        refused_or_accepted([&] {
            const datasets::Dataset data = datasets::load_image_folder(scratch().root / "images", options);
            data.validate();
            const core::Tensor pixels = data.images();  // a range-for does not keep a temporary alive
            for (float value : pixels.span()) require(value >= 0.0f && value <= 1.0f, "pixel in [0, 1]");
        });
}

// Up to four campaign JSON documents separated by NUL bytes: each is read, written and read back
// (which must give the same text); when all are read, they are reported together (table, CSV,
// SVG: `proact inject --plot` draws files it is given) and merged as shards.
void run_campaign_json(std::span<const uint8_t> bytes) {
    const std::string_view text = as_text(bytes);
    std::vector<faults::CampaignResult> results;
    size_t start = 0;
    for (int document = 0; document < 4 && start <= text.size(); ++document) {
        const size_t end = std::min(text.find('\0', start), text.size());
        const std::string part(text.substr(start, end - start));
        start = end + 1;
        try {
            results.push_back(faults::campaign_from_json(part, "fuzz.json"));
        } catch (const core::Error&) {
            return;
        }
        const std::string written = faults::campaign_json(results.back());
        try {
            require(faults::campaign_json(faults::campaign_from_json(written, "written.json")) == written,
                    "campaign JSON round trip");
        } catch (const core::Error& error) {
            throw std::logic_error(std::string("fuzz: campaign_json's own output is refused: ") + error.what());
        }
    }
    refused_or_accepted([&] {
        for (const faults::CampaignResult& result : results) faults::campaign_table(result);
        faults::campaign_csv(results);
        faults::campaign_svg(results, "fuzz");
    });
    refused_or_accepted([&] { faults::campaign_json(faults::merge_shards(results)); });
}

// A shard manifest of `proact reproduce --shard`: read, written and read back (the same text).
void run_shard_manifest(std::span<const uint8_t> bytes) {
    std::string written;
    try {
        written = method::shard_manifest_json(method::parse_shard_manifest(as_text(bytes), "shard.json"));
    } catch (const core::Error&) {
        return;
    }
    try {
        require(method::shard_manifest_json(method::parse_shard_manifest(written, "written.json")) == written,
                "shard manifest round trip");
    } catch (const core::Error& error) {
        throw std::logic_error(std::string("fuzz: shard_manifest_json's own output is refused: ") + error.what());
    }
}

void run_storage_format(std::span<const uint8_t> bytes) {
    refused_or_accepted([&] {
        const faults::StorageFormat format = faults::StorageFormat::parse(as_text(bytes));
        require(faults::StorageFormat::parse(format.to_string()) == format, "storage format round trip");
        require(format.bits() == 8 || format.bits() == 16 || format.bits() == 32, "storage format width");
        if (format.bits() > 16) return;
        // Every word of a narrow format reads back as a value that encodes to the same word.
        const faults::StorageFormat coder = format.is_int8() ? format.with_scale(0.25f) : format;
        for (uint32_t word = 0; word <= format.word_mask(); ++word)
            require(faults::word_of(faults::value_of(word, coder), coder) == word, "storage format word round trip");
    });
}

void run_ber_list(std::span<const uint8_t> bytes) {
    refused_or_accepted([&] {
        for (double ber : faults::parse_ber_list(as_text(bytes))) require(ber >= 0.0 && ber <= 1.0, "BER in [0, 1]");
    });
}

}  // namespace

const std::vector<Target>& targets() {
    static const std::vector<Target> list = {
        {"safetensors", run_safetensors}, {"idx", run_idx},
        {"idx_gzip", run_idx_gzip},       {"cifar", run_cifar},
        {"image", run_image},             {"campaign_json", run_campaign_json},
        {"storage_format", run_storage_format}, {"ber_list", run_ber_list},
        {"shard_manifest", run_shard_manifest},
    };
    return list;
}

const Target& target(const std::string& name) {
    for (const Target& candidate : targets())
        if (candidate.name == name) return candidate;
    throw std::invalid_argument("fuzz: no target named '" + name + "'");
}

}  // namespace proact::fuzz
