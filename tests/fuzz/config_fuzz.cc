// libFuzzer: the configuration loader on arbitrary text: it either returns a configuration
// or throws config::Error with a message; never anything else, never a crash.
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ingress::config::LoadOptions o;
    o.interface_exists = [](const std::string& n) { return n.size() < 8; };
    o.cpus = 4;
    try {
        (void)ingress::config::parse(std::string(reinterpret_cast<const char*>(data), size),
                                     "fuzz.yaml", o);
    } catch (const ingress::config::Error& e) {
        if (std::string(e.what()).rfind("fuzz.yaml", 0) != 0) __builtin_trap();
    }
    return 0;
}
