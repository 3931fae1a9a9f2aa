#include "datasets/registry.hpp"

#include <filesystem>
#include <sstream>

#include "core/error.hpp"
#include "datasets/cifar.hpp"
#include "datasets/idx.hpp"
#include "datasets/image_folder.hpp"

namespace proact::datasets {

const std::vector<std::string>& dataset_names() {
    static const std::vector<std::string> names = {"fashion-mnist", "mnist", "cifar10", "cifar100", "folder"};
    return names;
}

Dataset load_dataset(const std::string& name, const std::string& split, const std::string& data_dir,
                     const core::Shape& image_shape, const ReadLimits& limits) {
    if (split != "train" && split != "test")
        core::fail<core::ValueError>("dataset: split must be 'train' or 'test', got '", split, "'");
    auto need_dir = [&]() -> std::string {
        if (data_dir.empty())
            core::fail<core::ValueError>("dataset '", name, "' has no default location: pass --data-dir DIR");
        return data_dir;
    };
    if (name == "fashion-mnist")
        return load_fashion_mnist(data_dir.empty() ? kDefaultFashionMnistDir : data_dir, split, limits);
    if (name == "mnist") return load_mnist(need_dir(), split, limits);
    if (name == "cifar10") return load_cifar10(need_dir(), split, limits);
    if (name == "cifar100") return load_cifar100(need_dir(), split, limits);
    if (name == "folder") {
        if (image_shape.size() != 3)
            core::fail<core::ShapeError>("dataset folder: image shape must be (C,H,W), got ", core::shape_str(image_shape));
        ImageFolderOptions options;
        options.channels = static_cast<int>(image_shape[0]);
        options.height = image_shape[1];
        options.width = image_shape[2];
        options.limits = limits;
        return load_image_folder_split(need_dir(), split, options);
    }
    std::ostringstream known;
    for (const std::string& n : dataset_names()) known << (known.tellp() ? ", " : "") << n;
    core::fail<core::ValueError>("unknown dataset '", name, "' (known: ", known.str(), ")");
}

}  // namespace proact::datasets
