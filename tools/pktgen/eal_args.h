// The generator's --dpdk "EAL arguments" string, split into the argv rte_eal_init() wants:
// whitespace separates words, single or double quotes keep spaces inside one word.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ingress::gen {

// {program, words...}; nullopt for an unterminated quote.
std::optional<std::vector<std::string>> split_eal_args(const std::string& program,
                                                       const std::string& args);

}  // namespace ingress::gen
