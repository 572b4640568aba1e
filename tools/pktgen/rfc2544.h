// RFC 2544 section 26.1, throughput: the fastest rate at which the device under test
// forwards (here: receives) every frame offered to it, found by a binary search on the
// offered rate, one frame size at a time. The trial itself (send at a rate for a while,
// count what arrived) is passed in, so the search is tested against a fake device.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ingress::gen {

// The frame sizes RFC 2544 section 9.1 lists for Ethernet.
inline const std::vector<uint32_t> kRfc2544Sizes{64, 128, 256, 512, 1024, 1280, 1518};

// Frames per second on a link of `link_bps` at `frame` bytes (with FCS): each frame also
// costs the preamble, SFD and inter-frame gap on the wire, 20 bytes (RFC 2544 section 20).
double line_rate_fps(double link_bps, uint32_t frame) noexcept;

struct TrialResult {
    uint64_t sent = 0;
    uint64_t received = 0;
    double seconds = 0;  // how long the generator sent (0: unknown, the offered rate counts)
    uint64_t lost() const noexcept { return sent > received ? sent - received : 0; }
};

struct SearchOptions {
    double max_fps = 0;           // the line rate: the first trial, and the search's ceiling
    double resolution_pct = 1.0;  // stop when the passing and failing rates are this close
                                  // (in % of max_fps)
    uint32_t max_trials = 20;
};

struct SearchResult {
    double fps = 0;       // the highest offered rate with no loss; 0 if none passed
    TrialResult at_rate;  // that trial's counts
    std::optional<TrialResult> first_loss;  // the lowest failing trial, if any failed
    uint32_t trials = 0;
};

// Binary search (RFC 2544 section 26.1 and its note on search methods): a trial at the line
// rate first; if it loses frames, halve the interval between the highest passing rate
// (initially 0) and the lowest failing one until they are within the resolution or the
// trial budget is spent. Zero loss is the only pass criterion: one lost frame fails. A trial
// counts at the rate really sent (sent / seconds) when the generator fell short of the
// offered rate, so a generator-bound search converges on what was sent, not on what was asked.
using TrialFn = std::function<TrialResult(double offered_fps)>;
SearchResult throughput_search(const SearchOptions& opt, const TrialFn& trial);

// A counter's value in the nstat-form text ingressd returns for kStats ("Name   123" per
// line), nullopt if the name is not there (ingressd leaves out counters that are 0, so the
// callers read a missing counter as 0).
std::optional<uint64_t> nstat_value(std::string_view text, std::string_view name);

// One row of the RFC 2544 section 26.1 report.
struct ThroughputRow {
    uint32_t frame = 0;
    double link_bps = 0;
    double trial_seconds = 0;
    SearchResult result;
};
// The table: frame size, rate (fps and % of the line rate), Mbit/s of frames, loss at the
// found rate, trial duration and number of trials. One header line, one line per row.
std::string format_throughput_table(const std::vector<ThroughputRow>& rows);

}  // namespace ingress::gen
