// The settings a saved partial run was written with, checked against the run that wants to
// continue it: a partial state continues only the run that wrote it (train --resume, harden
// --resume). Both are name -> value text; the first name whose value differs is the message.
//
//   core::check_resume_key("model.safetensors.partial", saved, {{"lr", "0.01"}, {"seed", "4"}}, "run");
//   // ValueError: 'model.safetensors.partial' was written by a run with lr 0.05, this run has 0.01: ...
#pragma once

#include <map>
#include <string>

#include "core/error.hpp"

namespace proact::core {

inline void check_resume_key(const std::string& path, const std::map<std::string, std::string>& saved,
                             const std::map<std::string, std::string>& wanted, const char* writer = "run") {
    for (const auto& [name, value] : wanted) {
        const auto entry = saved.find(name);
        const std::string was = entry == saved.end() ? "(none)" : entry->second;
        if (was != value)
            fail<ValueError>("'", path, "' was written by a ", writer, " with ", name, " ", was, ", this ", writer,
                             " has ", value, ": resume with the same settings, or delete the file to start over");
    }
}

}  // namespace proact::core
