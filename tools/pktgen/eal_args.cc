#include "pktgen/eal_args.h"

#include <cctype>

namespace ingress::gen {

std::optional<std::vector<std::string>> split_eal_args(const std::string& program,
                                                       const std::string& args) {
    std::vector<std::string> out{program};
    std::string word;
    bool in_word = false;
    char quote = 0;
    for (char c : args) {
        if (quote) {
            if (c == quote)
                quote = 0;
            else
                word += c;
        } else if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
        } else if (std::isspace(static_cast<unsigned char>(c))) {
            if (in_word) out.push_back(std::move(word));
            word.clear();
            in_word = false;
        } else {
            word += c;
            in_word = true;
        }
    }
    if (quote) return std::nullopt;
    if (in_word) out.push_back(std::move(word));
    return out;
}

}  // namespace ingress::gen
