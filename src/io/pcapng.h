// A pcapng file writer (draft-ietf-opsawg-pcapng): one Section Header Block, one Interface
// Description Block per interface (LINKTYPE_ETHERNET, nanosecond timestamps, if_name), and
// an Enhanced Packet Block per frame with the per-packet comment (opt_comment) and flags
// (epb_flags: direction inbound, reception type). What `ingressctl capture` writes and
// tcpdump -r / tshark -r read. Control side: allocates, writes through stdio.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace ingress::io {

class PcapngWriter {
public:
    // Writes the section header to `f` (not owned; flushed by flush()).
    explicit PcapngWriter(std::FILE* f);

    // The interface's block is written before its first packet; its id is returned.
    uint32_t interface(uint32_t ifindex, const std::string& name, uint32_t snaplen);
    // epb_flags reception types (bits 2-4).
    enum class Reception : uint32_t {
        kUnspecified = 0,
        kUnicast = 1,
        kMulticast = 2,
        kBroadcast = 3
    };
    // One frame: ts in ns since the epoch, the bytes kept, the original length, a comment.
    void packet(uint32_t iface_id, uint64_t ts_ns, std::span<const uint8_t> bytes,
                uint32_t orig_len, const std::string& comment,
                Reception rx = Reception::kUnspecified);
    bool ok() const noexcept { return ok_; }
    void flush() noexcept { std::fflush(f_); }

private:
    void block(uint32_t type, const std::vector<uint8_t>& body);
    std::FILE* f_;
    bool ok_ = true;
    std::map<uint32_t, uint32_t> ids_;  // ifindex -> interface id
};

}  // namespace ingress::io
