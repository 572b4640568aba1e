#include "core/stats_format.h"

#include <cstdio>

namespace ingress::core {
namespace {

void line(std::string& out, std::string_view name, uint64_t v) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%-32.*s%llu\n", static_cast<int>(name.size()), name.data(),
                  static_cast<unsigned long long>(v));
    out += buf;
}

void json_field(std::string& out, bool& first, std::string_view name, uint64_t v) {
    out += first ? "" : ",";
    first = false;
    out += "\"";
    out += name;
    out += "\":";
    out += std::to_string(v);
}

}  // namespace

std::string format_stats(const Snapshot& s, const FormatOptions& opt) {
    std::string out;
    if (opt.json) {
        bool first = true;
        out += "{\"mib\":{";
        for (std::size_t i = 0; i < kMibCount; ++i)
            if (opt.zeros || s.mib[i])
                json_field(out, first, mib_name(static_cast<Mib>(i)), s.mib[i]);
        out += "},\"drops\":{";
        first = true;
        for (std::size_t i = 0; i < kDropReasonCount; ++i)
            if (opt.zeros || s.drops[i])
                json_field(out, first, drop_reason_name(static_cast<DropReason>(i)), s.drops[i]);
        out += "},\"fates\":{";
        first = true;
        json_field(out, first, "rx", s.rx);
        json_field(out, first, "delivered", s.delivered);
        json_field(out, first, "held", s.held);
        json_field(out, first, "passed", s.passed);
        json_field(out, first, "dropped", s.dropped_total());
        out += "},\"conserved\":";
        out += s.conserved() ? "true" : "false";
        out += "}\n";
        return out;
    }
    out += "#kernel\n";
    for (std::size_t i = 0; i < kMibCount; ++i)
        if (opt.zeros || s.mib[i]) line(out, mib_name(static_cast<Mib>(i)), s.mib[i]);
    out += "#drop reasons\n";
    for (std::size_t i = 0; i < kDropReasonCount; ++i)
        if (opt.zeros || s.drops[i])
            line(out, drop_reason_name(static_cast<DropReason>(i)), s.drops[i]);
    out += "#fates\n";
    line(out, "IngressRx", s.rx);
    line(out, "IngressDelivered", s.delivered);
    line(out, "IngressHeld", s.held);
    line(out, "IngressPassed", s.passed);
    line(out, "IngressDropped", s.dropped_total());
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "#conservation rx %llu = delivered %llu + held %llu + passed %llu + dropped "
                  "%llu: %s\n",
                  static_cast<unsigned long long>(s.rx),
                  static_cast<unsigned long long>(s.delivered),
                  static_cast<unsigned long long>(s.held),
                  static_cast<unsigned long long>(s.passed),
                  static_cast<unsigned long long>(s.dropped_total()),
                  s.conserved() ? "ok" : "VIOLATED");
    out += buf;
    return out;
}

std::string format_live_line(const Snapshot& prev, const Snapshot& cur, double secs) {
    std::string drops;
    for (std::size_t i = 0; i < kDropReasonCount; ++i)
        if (uint64_t d = cur.drops[i] - prev.drops[i])
            drops += " " + std::string(drop_reason_name(static_cast<DropReason>(i))) + "=" +
                     std::to_string(d);
    char buf[160];
    std::snprintf(buf, sizeof buf, "rx %8.0f/s  delivered %8llu  passed %6llu  dropped %6llu",
                  secs > 0 ? static_cast<double>(cur.rx - prev.rx) / secs : 0.0,
                  static_cast<unsigned long long>(cur.delivered - prev.delivered),
                  static_cast<unsigned long long>(cur.passed - prev.passed),
                  static_cast<unsigned long long>(cur.dropped_total() - prev.dropped_total()));
    return buf + drops;
}

}  // namespace ingress::core
