// safetensors files: named tensors plus string metadata, the format PyTorch and Hugging Face use.
//
//   bytes [0, 8)        N, the header length, little-endian uint64
//   bytes [8, 8 + N)    JSON header, possibly padded with trailing spaces:
//                         {"__metadata__": {"key": "value", ...},
//                          "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//   bytes [8 + N, end)  the data buffer; [begin, end) of each tensor is relative to its start,
//                       little-endian, row-major
//
// Writing: float32 only, tensors in sorted-name order, contiguous with no gaps, header padded with
// spaces to a multiple of 8 bytes so the buffer starts 8-byte aligned (as the reference
// implementation does). The save is atomic: an interrupted or failed save leaves any previous file
// at `path` as it was.
//
// Reading: F32 natively; F64, F16, BF16, I64, I32, I16, I8, U8 and BOOL are converted to float32
// (PyTorch state dicts hold e.g. BatchNorm's num_batches_tracked as I64). The file is untrusted:
// it is opened only if it is a regular file (core::InputFile), the header is read token by token
// against the layout above (no nesting beyond it, no repeated name, names and metadata values of
// bounded length), every dtype, shape (overflow-checked element count) and offset is checked
// against the file's length before anything is allocated, and the tensors must tile the data
// buffer: every byte belongs to exactly one tensor, so gaps, trailing bytes and overlaps are
// refused (as by the reference implementation). A malformed file throws FormatError naming the
// file and what was wrong, quoting the file's own text by short excerpts only.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/tensor.hpp"

namespace proact::core {

struct TensorFile {
    std::map<std::string, Tensor> tensors;
    std::map<std::string, std::string> metadata;
};

// Headers longer than this are rejected as corrupt (the reference implementation's limit).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;
// Longest tensor name or metadata key, longest metadata value and most axes a file may hold.
// Real names are a few dozen bytes and PyTorch allows at most 64 axes; the bounds keep what a
// message or a later parser of a metadata value is handed small.
inline constexpr size_t kSafetensorsMaxNameBytes = 1024;
inline constexpr size_t kSafetensorsMaxMetadataBytes = 65536;
inline constexpr size_t kSafetensorsMaxRank = 64;

// Writes `file` to `path` atomically: the bytes go to `path + ".tmp.<pid>"`, which is flushed to
// disk, closed and renamed over `path`; then the directory is synced. On any failure the temporary
// file is removed and IoError is thrown. Throws ValueError for an undefined tensor, a tensor named
// "__metadata__", or names/metadata that are not valid UTF-8.
// Not safe for two threads of one process saving to the same path at the same time.
void save_safetensors(const std::string& path, const TensorFile& file);

// Reads a whole safetensors file. IoError if it cannot be opened or read, FormatError if its
// contents are malformed. Returned tensors are contiguous and own their storage.
TensorFile load_safetensors(const std::string& path);

}  // namespace proact::core
