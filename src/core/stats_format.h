// Printing a counter snapshot the way nstat does, so `ingress-replay` and `ingressctl stats`
// read like `nstat -a` beside them. Generated entirely from the counter table.
#pragma once

#include <string>

#include "core/counters.h"

namespace ingress::core {

struct FormatOptions {
    bool zeros = false;  // also print counters that are 0 (nstat -z)
    bool json = false;
};

// Text form:
//   #kernel
//   IpInReceives                    10
//   ...
//   #drop reasons
//   OTHERHOST                       3
//   #fates
//   IngressRx                       20
//   IngressDelivered / IngressHeld / IngressPassed / IngressDropped
//   #conservation rx 20 = delivered 0 + held 0 + passed 17 + dropped 3: ok
std::string format_stats(const Snapshot& s, const FormatOptions& opt = {});

// One line of live counters between two snapshots `secs` apart:
//   rx    50600/s  delivered    33734  passed      0  dropped  16866 NO_SOCKET=16866
std::string format_live_line(const Snapshot& prev, const Snapshot& cur, double secs);

}  // namespace ingress::core
