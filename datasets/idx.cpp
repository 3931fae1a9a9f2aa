#include "datasets/idx.hpp"

#include <limits>

#include "core/error.hpp"
#include "datasets/file_bytes.hpp"

namespace proact::datasets {

namespace {

uint32_t read_big_endian_u32(const uint8_t* bytes) {
    return uint32_t(bytes[0]) << 24 | uint32_t(bytes[1]) << 16 | uint32_t(bytes[2]) << 8 | uint32_t(bytes[3]);
}

void append_big_endian_u32(std::vector<uint8_t>& out, uint32_t value) {
    out.push_back(uint8_t(value >> 24));
    out.push_back(uint8_t(value >> 16));
    out.push_back(uint8_t(value >> 8));
    out.push_back(uint8_t(value));
}

std::string hex32(uint32_t value) {
    static const char digits[] = "0123456789abcdef";
    std::string text = "0x00000000";
    for (int i = 0; i < 8; ++i) text[9 - i] = digits[(value >> (4 * i)) & 0xF];
    return text;
}

struct IdxKind {
    uint32_t magic;
    const char* what;  // "images" or "labels"
    size_t dims() const { return magic & 0xFF; }
    size_t header_bytes() const { return 4 + 4 * dims(); }
};

// Checks the magic and the dimensions of an IDX header (the first bytes of `bytes`, which may hold
// only the header) and returns the dimension sizes: at least one sample, images of at least 1x1
// and at most limits.max_image_pixels, and the whole file (header + payload) within
// limits.max_file_bytes. All from the header, before the payload is decompressed or allocated.
std::vector<uint64_t> parse_idx_header(const std::vector<uint8_t>& bytes, const std::filesystem::path& path,
                                       bool was_gzip, const IdxKind& kind, const ReadLimits& limits) {
    const char* counted = was_gzip ? " bytes after decompression" : " bytes";
    if (bytes.size() < 4)
        core::fail<core::FormatError>("idx: '", path.string(), "' is truncated: it holds ", bytes.size(), counted,
                                      ", too few for the 4-byte magic number");
    const uint32_t magic = read_big_endian_u32(bytes.data());
    if (magic != kind.magic)
        core::fail<core::FormatError>("idx: '", path.string(), "' has magic number ", hex32(magic), ", expected ",
                                      hex32(kind.magic), " (", kind.what, ": unsigned bytes, ", kind.dims(),
                                      " dimension", kind.dims() == 1 ? "" : "s", ")");
    if (bytes.size() < kind.header_bytes())
        core::fail<core::FormatError>("idx: '", path.string(), "' is truncated: expected a ", kind.header_bytes(),
                                      "-byte header, the file holds ", bytes.size(), counted);
    std::vector<uint64_t> dims(kind.dims());
    for (size_t axis = 0; axis < dims.size(); ++axis) dims[axis] = read_big_endian_u32(bytes.data() + 4 + 4 * axis);
    if (dims[0] == 0)
        core::fail<core::FormatError>("idx: '", path.string(), "' holds no ", kind.what,
                                      " (its header says 0); a data set needs at least one sample");
    // Each size is below 2^32, so these products cannot overflow a uint64.
    uint64_t pixels = 1;
    if (dims.size() == 3) {
        pixels = dims[1] * dims[2];
        if (pixels == 0 || pixels > limits.max_image_pixels)
            core::fail<core::FormatError>("idx: '", path.string(), "' claims images of ", dims[1], "x", dims[2],
                                          " pixels, expected 1 to ", limits.max_image_pixels,
                                          " pixels per image (ReadLimits::max_image_pixels)");
    }
    const uint64_t payload = dims[0] * pixels;  // < 2^32 * max_image_pixels
    if (payload > limits.max_file_bytes || kind.header_bytes() + payload > limits.max_file_bytes)
        core::fail<core::FormatError>("idx: '", path.string(), "' claims ", dims[0], " ", kind.what, " (",
                                      kind.header_bytes() + payload, counted, "), more than the limit of ",
                                      limits.max_file_bytes, " bytes for a data file (ReadLimits::max_file_bytes)");
    return dims;
}

// The whole file, gunzipped if needed, checked against its header: the header is read and checked
// first (for gzip from the first decompressed bytes), then exactly the bytes it claims.
std::vector<uint8_t> read_idx_file(const std::filesystem::path& path, const IdxKind& kind, const ReadLimits& limits,
                                   std::vector<uint64_t>& dims) {
    std::vector<uint8_t> bytes = read_raw_file_bytes(path, limits);
    const bool was_gzip = is_gzip(bytes);
    const std::vector<uint8_t> header =
        was_gzip ? gunzip_prefix(bytes, path.string(), kind.header_bytes()) : bytes;
    dims = parse_idx_header(header, path, was_gzip, kind, limits);
    const uint64_t expected_bytes = kind.header_bytes() + dims[0] * (dims.size() == 3 ? dims[1] * dims[2] : 1);
    // One byte more than claimed is enough to tell a longer file, so a gzip bomb stops there.
    if (was_gzip) bytes = gunzip_prefix(bytes, path.string(), static_cast<size_t>(expected_bytes) + 1);
    const char* counted = was_gzip ? " bytes after decompression" : " bytes";
    if (bytes.size() < expected_bytes)
        core::fail<core::FormatError>("idx: '", path.string(), "' is truncated: its header promises ", expected_bytes,
                                      " bytes, the file holds ", bytes.size(), counted);
    if (bytes.size() > expected_bytes)
        core::fail<core::FormatError>("idx: '", path.string(), "' is longer than its header says: expected ",
                                      expected_bytes, " bytes, the file holds ",
                                      was_gzip ? "more after decompression" : std::to_string(bytes.size()) + counted);
    bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(kind.header_bytes()));
    return bytes;
}

// The .gz name if something is there, else the plain name; IoError naming both if neither is.
// Anything present counts (not only regular files), so a FIFO or a symbolic link loop under the
// expected name is refused by the reader with what it is, instead of reported as missing.
std::filesystem::path find_idx_file(const std::filesystem::path& directory, const std::string& base_name) {
    const std::filesystem::path compressed = directory / (base_name + ".gz");
    const std::filesystem::path plain = directory / base_name;
    std::error_code error;
    if (std::filesystem::symlink_status(compressed, error).type() != std::filesystem::file_type::not_found &&
        !error)
        return compressed;
    if (std::filesystem::symlink_status(plain, error).type() != std::filesystem::file_type::not_found && !error)
        return plain;
    core::fail<core::IoError>("idx: neither '", compressed.string(), "' nor '", plain.string(), "' exists");
}

Dataset load_idx_split(const std::filesystem::path& directory, std::string_view split, std::string name,
                       const std::vector<std::string>& class_names, const ReadLimits& limits) {
    std::string prefix;
    if (split == "train")
        prefix = "train";
    else if (split == "test")
        prefix = "t10k";
    else
        core::fail<core::ValueError>("load ", name, ": split must be \"train\" or \"test\", got \"", split, "\"");
    // Looked up one after the other so a missing images file is the one reported.
    const std::filesystem::path images_path = find_idx_file(directory, prefix + "-images-idx3-ubyte");
    const std::filesystem::path labels_path = find_idx_file(directory, prefix + "-labels-idx1-ubyte");
    return load_idx_dataset(images_path, labels_path, name + "-" + std::string(split), class_names, limits);
}

constexpr IdxKind kImages{kIdxImagesMagic, "images"};
constexpr IdxKind kLabels{kIdxLabelsMagic, "labels"};

}  // namespace

IdxImages read_idx_images(const std::filesystem::path& path, const ReadLimits& limits) {
    std::vector<uint64_t> dims;
    IdxImages images;
    images.pixels = read_idx_file(path, kImages, limits, dims);
    images.count = static_cast<int64_t>(dims[0]);
    images.rows = static_cast<int64_t>(dims[1]);
    images.cols = static_cast<int64_t>(dims[2]);
    return images;
}

std::vector<uint8_t> read_idx_labels(const std::filesystem::path& path, const ReadLimits& limits) {
    std::vector<uint64_t> dims;
    return read_idx_file(path, kLabels, limits, dims);
}

void write_idx_images(const std::filesystem::path& path, std::span<const uint8_t> pixels, int64_t count,
                      int64_t rows, int64_t cols, bool gzip) {
    for (int64_t size : {count, rows, cols})
        if (size < 0 || size > int64_t(std::numeric_limits<uint32_t>::max()))
            core::fail<core::ValueError>("write_idx_images: sizes must be in [0, 2^32), got count ", count, ", rows ",
                                         rows, ", cols ", cols);
    if (static_cast<uint64_t>(pixels.size()) != uint64_t(count) * uint64_t(rows) * uint64_t(cols))
        core::fail<core::ShapeError>("write_idx_images: ", count, " images of ", rows, "x", cols, " need ",
                                     count * rows * cols, " pixel bytes, got ", pixels.size());
    std::vector<uint8_t> bytes;
    bytes.reserve(16 + pixels.size());
    append_big_endian_u32(bytes, kIdxImagesMagic);
    append_big_endian_u32(bytes, uint32_t(count));
    append_big_endian_u32(bytes, uint32_t(rows));
    append_big_endian_u32(bytes, uint32_t(cols));
    bytes.insert(bytes.end(), pixels.begin(), pixels.end());
    write_file_bytes(path, bytes, gzip);
}

void write_idx_labels(const std::filesystem::path& path, std::span<const uint8_t> labels, bool gzip) {
    if (labels.size() > std::numeric_limits<uint32_t>::max())
        core::fail<core::ValueError>("write_idx_labels: at most 2^32-1 labels, got ", labels.size());
    std::vector<uint8_t> bytes;
    bytes.reserve(8 + labels.size());
    append_big_endian_u32(bytes, kIdxLabelsMagic);
    append_big_endian_u32(bytes, uint32_t(labels.size()));
    bytes.insert(bytes.end(), labels.begin(), labels.end());
    write_file_bytes(path, bytes, gzip);
}

Dataset load_idx_dataset(const std::filesystem::path& images_path, const std::filesystem::path& labels_path,
                         std::string name, std::vector<std::string> class_names, const ReadLimits& limits) {
    IdxImages images = read_idx_images(images_path, limits);
    const std::vector<uint8_t> labels = read_idx_labels(labels_path, limits);
    if (static_cast<int64_t>(labels.size()) != images.count)
        core::fail<core::FormatError>("idx: '", labels_path.string(), "' holds ", labels.size(), " labels but '",
                                      images_path.string(), "' holds ", images.count, " images");
    const size_t num_classes = class_names.size();
    for (size_t i = 0; i < labels.size(); ++i)
        if (labels[i] >= num_classes)
            core::fail<core::FormatError>("idx: '", labels_path.string(), "': label of sample ", i, " is ",
                                          int(labels[i]), ", expected a class in [0, ", num_classes, ")");

    Dataset dataset;
    dataset.name = std::move(name);
    // The file's bytes as they are; Dataset converts them to pixel/255 per batch.
    dataset.set_pixel_bytes(std::move(images.pixels), {1, images.rows, images.cols});
    dataset.labels.assign(labels.begin(), labels.end());
    dataset.num_classes = static_cast<int>(num_classes);
    dataset.class_names = std::move(class_names);
    return dataset;
}

const std::vector<std::string>& mnist_class_names() {
    static const std::vector<std::string> names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    return names;
}

const std::vector<std::string>& fashion_mnist_class_names() {
    static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    return names;
}

Dataset load_mnist(const std::filesystem::path& directory, std::string_view split, const ReadLimits& limits) {
    return load_idx_split(directory, split, "mnist", mnist_class_names(), limits);
}

Dataset load_fashion_mnist(const std::filesystem::path& directory, std::string_view split,
                           const ReadLimits& limits) {
    return load_idx_split(directory, split, "fashion-mnist", fashion_mnist_class_names(), limits);
}

}  // namespace proact::datasets
