#include "support/counters.h"

#include <sstream>

namespace ingress::test {

::testing::AssertionResult counters_are(const core::Snapshot& s, const Expected& given) {
    // The output counters of the ICMP errors the receive-path tests expect: one datagram in
    // one frame per IcmpOutMsgs unless the test names them. IpExtOutOctets is checked only
    // where named (the tests that assert a sent frame check its bytes instead).
    Expected want = given;
    if (auto m = given.find("IcmpOutMsgs"); m != given.end() && !given.count("IpOutRequests")) {
        want.emplace("IpOutRequests", m->second);
        want.emplace("IpOutTransmits", m->second);
    }
    const bool octets_named = given.count("IpExtOutOctets") != 0;
    std::ostringstream bad;
    std::map<std::string, bool> used;
    auto check = [&](const std::string& name, uint64_t got) {
        auto it = want.find(name);
        uint64_t exp = it == want.end() ? 0 : it->second;
        if (it != want.end()) used[name] = true;
        if (got != exp) bad << "  " << name << ": expected " << exp << ", got " << got << "\n";
    };
    check("rx", s.rx);
    check("delivered", s.delivered);
    check("held", s.held);
    check("passed", s.passed);
    for (std::size_t i = 0; i < core::kMibCount; ++i) {
        const std::string name(core::mib_name(static_cast<core::Mib>(i)));
        if (name == "IpExtOutOctets" && !octets_named) continue;
        check(name, s.mib[i]);
    }
    for (std::size_t i = 0; i < core::kDropReasonCount; ++i)
        check(std::string(core::drop_reason_name(static_cast<core::DropReason>(i))), s.drops[i]);
    for (const auto& [name, v] : want)
        if (!used.count(name)) bad << "  " << name << ": no such counter in counters.def\n";
    if (!s.conserved()) bad << "  conservation identity violated\n";
    if (bad.str().empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "counters differ:\n" << bad.str();
}

core::Snapshot parse_stats_text(const std::string& text) {
    core::Snapshot s;
    std::istringstream in(text);
    std::string line;
    bool body = false;
    while (std::getline(in, line)) {
        if (line == "#kernel") body = true;
        if (line.rfind("#conservation", 0) == 0) break;
        if (!body || line.empty() || line[0] == '#') continue;
        std::istringstream l(line);
        std::string name;
        uint64_t v = 0;
        l >> name >> v;
        bool known = true;
        if (name == "IngressRx")
            s.rx = v;
        else if (name == "IngressDelivered")
            s.delivered = v;
        else if (name == "IngressHeld")
            s.held = v;
        else if (name == "IngressPassed")
            s.passed = v;
        else if (name == "IngressDropped") {
        }  // the sum of the reasons
        else
            known = false;
        for (std::size_t i = 0; !known && i < core::kMibCount; ++i)
            if (name == core::mib_name(static_cast<core::Mib>(i))) s.mib[i] = v, known = true;
        for (std::size_t i = 0; !known && i < core::kDropReasonCount; ++i)
            if (name == core::drop_reason_name(static_cast<core::DropReason>(i)))
                s.drops[i] = v, known = true;
        if (!known) ADD_FAILURE() << "unknown counter in stats text: " << line;
    }
    return s;
}

core::Snapshot delta(const core::Snapshot& after, const core::Snapshot& before) {
    core::Snapshot d = after;
    d.rx -= before.rx;
    d.delivered -= before.delivered;
    d.held -= before.held;
    d.passed -= before.passed;
    for (std::size_t i = 0; i < core::kDropReasonCount; ++i) d.drops[i] -= before.drops[i];
    for (std::size_t i = 0; i < core::kMibCount; ++i) d.mib[i] -= before.mib[i];
    return d;
}

}  // namespace ingress::test
