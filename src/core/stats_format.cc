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

std::string json_object(const Snapshot& s, bool zeros) {
    std::string out;
    bool first = true;
    out += "{\"mib\":{";
    for (std::size_t i = 0; i < kMibCount; ++i)
        if (zeros || s.mib[i]) json_field(out, first, mib_name(static_cast<Mib>(i)), s.mib[i]);
    out += "},\"drops\":{";
    first = true;
    for (std::size_t i = 0; i < kDropReasonCount; ++i)
        if (zeros || s.drops[i])
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
    out += "}";
    return out;
}

// A counter row: a MIB counter or a drop reason, by index.
struct Slot {
    bool mib;
    std::size_t i;
    uint64_t operator()(const Snapshot& s) const noexcept { return mib ? s.mib[i] : s.drops[i]; }
};

// The MIB and drop-reason rows in table order, each section after its header.
template <typename Header, typename Row>
void for_each_row(Header&& header, Row&& row) {
    header("#kernel");
    for (std::size_t i = 0; i < kMibCount; ++i) row(mib_name(static_cast<Mib>(i)), Slot{true, i});
    header("#drop reasons");
    for (std::size_t i = 0; i < kDropReasonCount; ++i)
        row(drop_reason_name(static_cast<DropReason>(i)), Slot{false, i});
}

uint64_t fate(const Snapshot& s, int which) {
    switch (which) {
        case 0:
            return s.rx;
        case 1:
            return s.delivered;
        case 2:
            return s.held;
        case 3:
            return s.passed;
    }
    return s.dropped_total();
}
constexpr std::string_view kFateNames[] = {"IngressRx", "IngressDelivered", "IngressHeld",
                                           "IngressPassed", "IngressDropped"};

std::string conservation_line(const Snapshot& s) {
    char buf[200];
    std::snprintf(
        buf, sizeof buf,
        "#conservation rx %llu = delivered %llu + held %llu + passed %llu + dropped "
        "%llu: %s\n",
        static_cast<unsigned long long>(s.rx), static_cast<unsigned long long>(s.delivered),
        static_cast<unsigned long long>(s.held), static_cast<unsigned long long>(s.passed),
        static_cast<unsigned long long>(s.dropped_total()), s.conserved() ? "ok" : "VIOLATED");
    return buf;
}

}  // namespace

std::string arrival_line(const Snapshot& total, const std::vector<CounterGroup>& groups) {
    uint64_t missed = 0, orphaned = 0;
    for (const CounterGroup& g : groups)
        for (const NamedCounter& c : g.counters) {
            if (g.source == "backend" && c.name == "rx_missed") missed += c.value;
            if (g.source == "xdp_leftover" && c.name == "no_xsk") orphaned += c.value;
        }
    char buf[240];
    std::snprintf(buf, sizeof buf,
                  "#arrived %llu = rx %llu + missed before ingressd %llu (backend rx_missed) + "
                  "passed by the orphaned program %llu (xdp_leftover no_xsk)\n",
                  static_cast<unsigned long long>(total.rx + missed + orphaned),
                  static_cast<unsigned long long>(total.rx),
                  static_cast<unsigned long long>(missed),
                  static_cast<unsigned long long>(orphaned));
    return buf;
}

std::string json_snapshot(const Snapshot& s) {
    return json_object(s, true);
}

std::string format_stats(const Snapshot& s, const FormatOptions& opt) {
    std::string out;
    if (opt.json) return json_object(s, opt.zeros) + "\n";
    out += "#kernel\n";
    for (std::size_t i = 0; i < kMibCount; ++i)
        if (opt.zeros || s.mib[i]) line(out, mib_name(static_cast<Mib>(i)), s.mib[i]);
    out += "#drop reasons\n";
    for (std::size_t i = 0; i < kDropReasonCount; ++i)
        if (opt.zeros || s.drops[i])
            line(out, drop_reason_name(static_cast<DropReason>(i)), s.drops[i]);
    out += "#fates\n";
    for (int f = 0; f < 5; ++f) line(out, kFateNames[f], fate(s, f));
    return out + conservation_line(s);
}

std::string format_stats_table(const Snapshot& total, const std::vector<Snapshot>& workers,
                               const FormatOptions& opt) {
    std::string out;
    auto row = [&](std::string_view name, auto get) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%-32.*s%12llu", static_cast<int>(name.size()), name.data(),
                      static_cast<unsigned long long>(get(total)));
        out += buf;
        for (const Snapshot& w : workers) {
            std::snprintf(buf, sizeof buf, "%12llu", static_cast<unsigned long long>(get(w)));
            out += buf;
        }
        out += "\n";
    };
    auto header = [&](std::string_view title) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%-32.*s%12s", static_cast<int>(title.size()), title.data(),
                      "total");
        out += buf;
        for (std::size_t w = 0; w < workers.size(); ++w) {
            std::snprintf(buf, sizeof buf, "%12s", ("worker" + std::to_string(w)).c_str());
            out += buf;
        }
        out += "\n";
    };
    for_each_row(header, [&](std::string_view name, Slot slot) {
        if (opt.zeros || slot(total)) row(name, slot);
    });
    header("#fates");
    for (int f = 0; f < 5; ++f) row(kFateNames[f], [&](const Snapshot& s) { return fate(s, f); });
    return out + conservation_line(total);
}

std::string format_rates(const Snapshot& prev, const Snapshot& cur, double secs,
                         const FormatOptions& opt) {
    std::string out;
    auto row = [&](std::string_view name, uint64_t before, uint64_t now) {
        if (!opt.zeros && !now) return;
        char buf[96];
        std::snprintf(buf, sizeof buf, "%-32.*s%14llu %12.1f/s\n", static_cast<int>(name.size()),
                      name.data(), static_cast<unsigned long long>(now),
                      secs > 0 ? static_cast<double>(now - before) / secs : 0.0);
        out += buf;
    };
    for_each_row([&](std::string_view title) { (out += title) += "\n"; },
                 [&](std::string_view name, Slot slot) { row(name, slot(prev), slot(cur)); });
    out += "#fates\n";
    for (int f = 0; f < 5; ++f) row(kFateNames[f], fate(prev, f), fate(cur, f));
    return out;
}

std::string openmetrics_escape(std::string_view s, bool label_value) {
    std::string out;
    for (char c : s) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (c == '"' && label_value)
            out += "\\\"";
        else
            out += c;
    }
    return out;
}

std::string format_counter_groups(const std::vector<CounterGroup>& groups,
                                  const FormatOptions& opt) {
    std::string out;
    for (const CounterGroup& g : groups) {
        out += "#" + g.source + " " + g.device;
        if (g.queue >= 0) out += " queue " + std::to_string(g.queue);
        out += " (" + g.backend + ")\n";
        for (const NamedCounter& c : g.counters)
            if (opt.zeros || c.value) line(out, c.name, c.value);
    }
    return out;
}

std::string json_counter_groups(const std::vector<CounterGroup>& groups) {
    std::string out = "[";
    for (std::size_t i = 0; i < groups.size(); ++i) {
        const CounterGroup& g = groups[i];
        out += i ? ",{" : "{";
        // Interface names and counter names are printable ASCII without quotes (IFNAMSIZ
        // names the kernel accepted; the sources' field names).
        out += "\"device\":\"" + g.device + "\",\"backend\":\"" + g.backend + "\",\"source\":\"" +
               g.source + "\",\"queue\":" + (g.queue >= 0 ? std::to_string(g.queue) : "null") +
               ",\"counters\":{";
        bool first = true;
        for (const NamedCounter& c : g.counters) json_field(out, first, c.name, c.value);
        out += "}}";
    }
    return out + "]";
}

std::string format_openmetrics(const std::vector<Snapshot>& workers,
                               const std::vector<CounterGroup>& groups,
                               const std::vector<EndpointFigures>& endpoints) {
    std::string out;
    auto family = [&](const std::string& name, const char* type, std::string_view help) {
        out += "# TYPE " + name + " " + type + "\n# HELP " + name + " " +
               openmetrics_escape(help, false) + "\n";
    };
    auto sample = [&](const std::string& name, std::size_t w, std::string_view reason, uint64_t v) {
        out += name + "{worker=\"" + std::to_string(w) + "\"";
        if (!reason.empty()) out += ",reason=\"" + openmetrics_escape(reason, true) + "\"";
        out += "} " + std::to_string(v) + "\n";
    };
    for (std::size_t i = 0; i < kMibCount; ++i) {
        const Mib m = static_cast<Mib>(i);
        const std::string name =
            "ingress_netstat_" + std::string(mib_group(m)) + "_" + std::string(mib_field(m));
        family(name, "counter", mib_help(m));
        for (std::size_t w = 0; w < workers.size(); ++w)
            sample(name + "_total", w, {}, workers[w].mib[i]);
    }
    family("ingress_drops", "counter",
           "frames dropped, by drop reason (the kernel's enum skb_drop_reason names)");
    for (std::size_t w = 0; w < workers.size(); ++w)
        for (std::size_t i = 0; i < kDropReasonCount; ++i)
            sample("ingress_drops_total", w, drop_reason_name(static_cast<DropReason>(i)),
                   workers[w].drops[i]);
    struct Fate {
        const char* name;
        const char* type;
        const char* help;
        int which;
    };
    static constexpr Fate kFates[] = {
        {"ingress_rx_frames", "counter", "frames that entered the worker", 0},
        {"ingress_delivered_frames", "counter", "frames delivered to at least one endpoint", 1},
        {"ingress_passed_frames", "counter", "frames passed to the kernel", 3},
        {"ingress_held_frames", "gauge", "fragments held in reassembly queues", 2},
    };
    for (const Fate& f : kFates) {
        const bool counter = std::string_view(f.type) == "counter";
        family(f.name, f.type, f.help);
        for (std::size_t w = 0; w < workers.size(); ++w)
            sample(std::string(f.name) + (counter ? "_total" : ""), w, {},
                   fate(workers[w], f.which));
    }
    // One family per (source, counter name), its samples together (OpenMetrics wants a
    // family's samples contiguous), in the order the groups first name them.
    std::vector<std::pair<std::string, const NamedCounter*>> families;
    for (const CounterGroup& g : groups)
        for (const NamedCounter& c : g.counters) {
            const std::string name = "ingress_" + g.source + "_" + c.name;
            bool seen = false;
            for (const auto& f : families) seen = seen || f.first == name;
            if (!seen) families.emplace_back(name, &c);
        }
    for (const auto& [name, first] : families) {
        family(name, "counter", first->help);
        for (const CounterGroup& g : groups)
            for (const NamedCounter& c : g.counters) {
                if ("ingress_" + g.source + "_" + c.name != name) continue;
                out += name + "_total{device=\"" + openmetrics_escape(g.device, true) +
                       "\",backend=\"" + openmetrics_escape(g.backend, true) + "\"";
                if (g.queue >= 0) out += ",queue=\"" + std::to_string(g.queue) + "\"";
                out += "} " + std::to_string(c.value) + "\n";
            }
    }
    struct EndpointFamily {
        const char* name;
        const char* type;
        const char* help;
        uint64_t EndpointFigures::*value;
    };
    static constexpr EndpointFamily kEndpointFamilies[] = {
        {"ingress_endpoint_delivered_datagrams", "counter",
         "datagrams written to the endpoint's rings", &EndpointFigures::delivered},
        {"ingress_endpoint_dropped_datagrams", "counter",
         "datagrams dropped because the endpoint's ring was full (SOCKET_RCVBUFF)",
         &EndpointFigures::dropped},
        {"ingress_endpoint_truncated_datagrams", "counter", "datagrams cut to the ring's slot",
         &EndpointFigures::truncated},
        {"ingress_endpoint_ring_used", "gauge", "ring slots filled, not yet read by the app",
         &EndpointFigures::ring_used},
    };
    if (!endpoints.empty())
        for (const EndpointFamily& f : kEndpointFamilies) {
            const bool counter = std::string_view(f.type) == "counter";
            family(f.name, f.type, f.help);
            for (const EndpointFigures& e : endpoints)
                out += std::string(f.name) + (counter ? "_total" : "") + "{endpoint=\"" +
                       std::to_string(e.id) + "\",kind=\"" + openmetrics_escape(e.kind, true) +
                       "\",local=\"" + openmetrics_escape(e.local, true) + "\"} " +
                       std::to_string(e.*f.value) + "\n";
        }
    out += "# EOF\n";
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
