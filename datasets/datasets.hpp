// proact::datasets — data in, batches out. Depends only on core/.
//
// A Dataset (dataset.hpp) is samples stored once (the file's bytes, or floats), a view of indices
// over them and one int32 label per sample; it hands out float batches: images [B, C, H, W] with
// values pixel/255 in [0, 1], or [B, F] for synthetic tabular sets. Splits and subsets are views.
//
//   #include "datasets/datasets.hpp"
//   namespace ds = proact::datasets;
//
//   // Fashion-MNIST from the Debian package (or any folder holding the four IDX files, .gz or not)
//   ds::Dataset train = ds::load_fashion_mnist("train");  // [60000, 1, 28, 28]
//   ds::Dataset test  = ds::load_fashion_mnist(ds::kDefaultFashionMnistDir, "test");
//
//   // Other sources
//   ds::Dataset cifar = ds::load_cifar10("cifar-10-batches-bin", "train");       // [50000, 3, 32, 32]
//   ds::Dataset photos = ds::load_image_folder("photos", {.channels = 3, .height = 64, .width = 64});
//   ds::Dataset spirals = ds::two_spirals(500, 0.05f, seed);                      // [1000, 2]
//
//   // Hold out 10% for validation, then batch with shuffling, normalisation and augmentation
//   auto [fit, validation] = ds::split(train, 0.1, seed);
//   ds::DataLoader loader(fit, {.batch_size = 64, .shuffle = true, .seed = seed,
//                               .normalize = ds::channel_statistics(fit),
//                               .augment = {.crop_padding = 2, .horizontal_flip = true}});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//       loader.start_epoch(epoch);
//       while (auto batch = loader.next()) {
//           // batch->images [B, C, H, W] contiguous, batch->labels[b] in [0, num_classes)
//       }
//   }
//
// Everything random is drawn from core::Rng streams named by the seed, so the same seed gives the
// same bytes: split from (seed, "split"), epoch e's order from (seed, "shuffle", e), sample i's
// augmentation in epoch e from (seed, "augment", e).child(i).
//
// Errors: IoError for files that cannot be read, FormatError (naming the file, the expected and the
// actual value) for files whose contents are wrong, ValueError / ShapeError for bad arguments.
// Files are untrusted: FIFOs, devices and symlink loops are refused unopened, and ReadLimits
// (file_bytes.hpp: bytes after decompression, pixels per image) are checked from headers before
// decoding; every reader takes them, with defaults, and load_dataset passes them on.
#pragma once

#include "datasets/augment.hpp"
#include "datasets/cifar.hpp"
#include "datasets/dataset.hpp"
#include "datasets/file_bytes.hpp"
#include "datasets/idx.hpp"
#include "datasets/image_folder.hpp"
#include "datasets/loader.hpp"
#include "datasets/normalize.hpp"
#include "datasets/resize.hpp"
#include "datasets/split.hpp"
#include "datasets/synthetic.hpp"
