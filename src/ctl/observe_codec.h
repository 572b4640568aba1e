// The trace and capture messages (docs/control-protocol.md "trace, capture"): the request
// (worker::ObserveSpec and a timeout) and the records a session streams back. Control
// thread and ingressctl only (they allocate).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ctl/protocol.h"
#include "worker/observe.h"

namespace ingress::ctl {

struct ObserveRequest {
    worker::ObserveSpec spec;
    std::string ifname;       // capture --iface: resolved by the daemon into spec.ifindex
    uint32_t timeout_ms = 0;  // 0: no timeout
};

// kTrace for ObserveMode::kTrace, kCapture for the others.
std::vector<uint8_t> encode(uint32_t seq, const ObserveRequest& r);
// Checks the program (worker::filter_is_valid) and the reason names; nullopt when valid.
std::optional<DecodeError> decode(const Message& m, ObserveRequest* out);

// `ifname`: the daemon's name of the record's interface (its network namespace may not be
// the client's); decoded into *ifname.
void encode_record(Builder& b, const worker::TraceRecord& r, std::string_view ifname);
void encode_record(Builder& b, const worker::CaptureRecord& r, std::string_view ifname);
std::optional<worker::TraceRecord> decode_trace_record(const Attrs& a, std::string* ifname);
std::optional<worker::CaptureRecord> decode_capture_record(const Attrs& a, std::string* ifname);

// The last reply of a session.
struct ObserveEnd {
    uint64_t records = 0, lost = 0, skipped = 0;
    std::string why;  // "count reached", "timeout", ...
};
void encode_end(Builder& b, const ObserveEnd& e);
std::optional<ObserveEnd> decode_end(const Attrs& a);

}  // namespace ingress::ctl
