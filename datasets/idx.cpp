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

// Parses the header of an IDX file of unsigned bytes with `expected_dims` dimensions and checks the
// payload length. Returns the dimension sizes; the payload starts at 4 + 4 * expected_dims.
std::vector<uint64_t> parse_idx_header(const std::vector<uint8_t>& bytes, const std::filesystem::path& path,
                                       bool was_gzip, uint32_t expected_magic, const char* what) {
    const char* counted = was_gzip ? " bytes after decompression" : " bytes";
    const size_t expected_dims = expected_magic & 0xFF;
    const size_t header_bytes = 4 + 4 * expected_dims;
    if (bytes.size() < 4)
        core::fail<core::FormatError>("idx: '", path.string(), "' is truncated: it holds ", bytes.size(), counted,
                                      ", too few for the 4-byte magic number");
    const uint32_t magic = read_big_endian_u32(bytes.data());
    if (magic != expected_magic)
        core::fail<core::FormatError>("idx: '", path.string(), "' has magic number ", hex32(magic), ", expected ",
                                      hex32(expected_magic), " (", what, ": unsigned bytes, ", expected_dims,
                                      " dimension", expected_dims == 1 ? "" : "s", ")");
    if (bytes.size() < header_bytes)
        core::fail<core::FormatError>("idx: '", path.string(), "' is truncated: expected a ", header_bytes,
                                      "-byte header, the file holds ", bytes.size(), counted);
    std::vector<uint64_t> dims(expected_dims);
    uint64_t payload = 1;
    for (size_t axis = 0; axis < expected_dims; ++axis) {
        dims[axis] = read_big_endian_u32(bytes.data() + 4 + 4 * axis);
        if (dims[axis] != 0 && payload > std::numeric_limits<uint64_t>::max() / 4 / dims[axis])
            core::fail<core::FormatError>("idx: '", path.string(), "' declares dimensions too large to hold");
        payload *= dims[axis];
    }
    const uint64_t expected_bytes = header_bytes + payload;
    if (bytes.size() < expected_bytes)
        core::fail<core::FormatError>("idx: '", path.string(), "' is truncated: its header promises ", expected_bytes,
                                      " bytes, the file holds ", bytes.size(), counted);
    if (bytes.size() > expected_bytes)
        core::fail<core::FormatError>("idx: '", path.string(), "' is longer than its header says: expected ",
                                      expected_bytes, " bytes, the file holds ", bytes.size(), counted);
    return dims;
}

// The .gz name if that file exists, else the plain name; IoError naming both if neither does.
std::filesystem::path find_idx_file(const std::filesystem::path& directory, const std::string& base_name) {
    const std::filesystem::path compressed = directory / (base_name + ".gz");
    const std::filesystem::path plain = directory / base_name;
    std::error_code error;
    if (std::filesystem::is_regular_file(compressed, error)) return compressed;
    if (std::filesystem::is_regular_file(plain, error)) return plain;
    core::fail<core::IoError>("idx: neither '", compressed.string(), "' nor '", plain.string(), "' exists");
}

Dataset load_idx_split(const std::filesystem::path& directory, std::string_view split, std::string name,
                       const std::vector<std::string>& class_names) {
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
    return load_idx_dataset(images_path, labels_path, name + "-" + std::string(split), class_names);
}

// The file's bytes, gunzipped if needed; `was_gzip` says which, for error messages.
std::vector<uint8_t> read_idx_bytes(const std::filesystem::path& path, bool& was_gzip) {
    std::vector<uint8_t> bytes = read_raw_file_bytes(path);
    was_gzip = is_gzip(bytes);
    return was_gzip ? gunzip(bytes, path.string()) : bytes;
}

}  // namespace

IdxImages read_idx_images(const std::filesystem::path& path) {
    bool was_gzip = false;
    std::vector<uint8_t> bytes = read_idx_bytes(path, was_gzip);
    const std::vector<uint64_t> dims = parse_idx_header(bytes, path, was_gzip, kIdxImagesMagic, "images");
    IdxImages images;
    images.count = static_cast<int64_t>(dims[0]);
    images.rows = static_cast<int64_t>(dims[1]);
    images.cols = static_cast<int64_t>(dims[2]);
    bytes.erase(bytes.begin(), bytes.begin() + 16);
    images.pixels = std::move(bytes);
    return images;
}

std::vector<uint8_t> read_idx_labels(const std::filesystem::path& path) {
    bool was_gzip = false;
    std::vector<uint8_t> bytes = read_idx_bytes(path, was_gzip);
    parse_idx_header(bytes, path, was_gzip, kIdxLabelsMagic, "labels");
    bytes.erase(bytes.begin(), bytes.begin() + 8);
    return bytes;
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
                         std::string name, std::vector<std::string> class_names) {
    const IdxImages images = read_idx_images(images_path);
    const std::vector<uint8_t> labels = read_idx_labels(labels_path);
    if (static_cast<int64_t>(labels.size()) != images.count)
        core::fail<core::FormatError>("idx: '", labels_path.string(), "' holds ", labels.size(), " labels but '",
                                      images_path.string(), "' holds ", images.count, " images");
    const size_t num_classes = class_names.size();
    for (size_t i = 0; i < labels.size(); ++i)
        if (labels[i] >= num_classes)
            core::fail<core::FormatError>("idx: '", labels_path.string(), "': label of sample ", i, " is ",
                                          int(labels[i]), ", expected a class in [0, ", num_classes, ")");

    Dataset dataset;
    dataset.images = core::Tensor::empty({images.count, 1, images.rows, images.cols});
    // Plain division keeps value == pixel/255 exactly; the loop still vectorises.
    float* out = dataset.images.data();
    const uint8_t* in = images.pixels.data();
    const size_t pixel_count = images.pixels.size();
    for (size_t i = 0; i < pixel_count; ++i) out[i] = static_cast<float>(in[i]) / 255.0f;
    dataset.labels.assign(labels.begin(), labels.end());
    dataset.num_classes = static_cast<int>(num_classes);
    dataset.name = std::move(name);
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

Dataset load_mnist(const std::filesystem::path& directory, std::string_view split) {
    return load_idx_split(directory, split, "mnist", mnist_class_names());
}

Dataset load_fashion_mnist(const std::filesystem::path& directory, std::string_view split) {
    return load_idx_split(directory, split, "fashion-mnist", fashion_mnist_class_names());
}

}  // namespace proact::datasets
