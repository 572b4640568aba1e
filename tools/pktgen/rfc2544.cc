#include "pktgen/rfc2544.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace ingress::gen {

double line_rate_fps(double link_bps, uint32_t frame) noexcept {
    return link_bps / ((frame + 20.0) * 8.0);
}

SearchResult throughput_search(const SearchOptions& opt, const TrialFn& trial) {
    SearchResult r;
    double pass = 0, fail = opt.max_fps;
    const double resolution = opt.max_fps * opt.resolution_pct / 100.0;
    double offered = opt.max_fps;
    while (r.trials < opt.max_trials) {
        TrialResult t = trial(offered);
        ++r.trials;
        // What the device was really offered: a generator that fell short of the asked rate
        // sent less, and that lower rate is what passed or failed.
        double real = t.seconds > 0 ? std::min(offered, t.sent / t.seconds) : offered;
        if (t.lost() == 0) {
            pass = std::max(pass, real);
            r.fps = pass;
            r.at_rate = t;
            if (offered >= opt.max_fps) break;  // the line rate itself passed
        } else {
            fail = std::min(fail, real);
            r.first_loss = t;
        }
        if (fail - pass <= resolution) break;
        offered = (pass + fail) / 2;
    }
    return r;
}

std::optional<uint64_t> nstat_value(std::string_view text, std::string_view name) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t eol = text.find('\n', pos);
        std::string_view line = text.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
        pos = eol == std::string_view::npos ? text.size() : eol + 1;
        if (line.size() <= name.size() || line.substr(0, name.size()) != name ||
            !std::isspace(static_cast<unsigned char>(line[name.size()])))
            continue;
        std::size_t i = name.size();
        while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
        uint64_t v = 0;
        std::size_t digits = 0;
        for (; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i, ++digits)
            v = v * 10 + static_cast<uint64_t>(line[i] - '0');
        if (digits) return v;
    }
    return std::nullopt;
}

std::string format_throughput_table(const std::vector<ThroughputRow>& rows) {
    std::string out = "frame B  rate fps      % line  Mbit/s    loss at rate  trial s  trials\n";
    char buf[200];
    for (const auto& row : rows) {
        const auto& s = row.result;
        double line = line_rate_fps(row.link_bps, row.frame);
        std::snprintf(buf, sizeof buf, "%-8u %-13.0f %-7.2f %-9.1f %-13llu %-8.1f %u\n", row.frame,
                      s.fps, line > 0 ? 100.0 * s.fps / line : 0.0, s.fps * row.frame * 8 / 1e6,
                      static_cast<unsigned long long>(s.at_rate.lost()), row.trial_seconds,
                      s.trials);
        out += buf;
    }
    return out;
}

}  // namespace ingress::gen
