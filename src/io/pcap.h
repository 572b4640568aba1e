// The pcap backend, through libpcap: replays a capture file as queue 0 of one interface, and
// writes what the dataplane transmits (and, optionally, what it passes to the kernel) to
// capture files. Used by ingress-replay, the demo, and tests; the pcap files it writes open
// in tcpdump/wireshark.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "io/backend.h"
#include "io/buffer_pool.h"

struct pcap;
struct pcap_dumper;

namespace ingress::io {

// Writes Ethernet frames to a pcap file (nanosecond timestamps).
class PcapWriter {
public:
    // Throws std::runtime_error naming the file when it cannot be created.
    explicit PcapWriter(const std::string& path, uint32_t snaplen = 262144);
    ~PcapWriter();
    PcapWriter(const PcapWriter&) = delete;
    PcapWriter& operator=(const PcapWriter&) = delete;

    void write(std::span<const uint8_t> frame, uint64_t ts_ns);
    void flush();

private:
    pcap* handle_ = nullptr;
    pcap_dumper* dumper_ = nullptr;
};

class PcapBackend final : public Backend {
public:
    struct Options {
        std::string rx_path;  // capture to replay (Ethernet link type)
        uint32_t ifindex = 1;
        std::optional<std::string> tx_path;    // where tx_burst() frames go
        std::optional<std::string> pass_path;  // where pass_burst() frames go
        uint32_t buffers = 1024;
    };
    // Throws std::runtime_error naming the file on open errors or a non-Ethernet capture.
    explicit PcapBackend(const Options& opt);
    ~PcapBackend() override;

    uint16_t rx_burst(uint16_t queue, core::Packet* pkts, uint16_t max) noexcept override;
    uint16_t tx_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept override;
    void pass_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept override;
    void free_bulk(const uint64_t* bufs, uint16_t n) noexcept override;
    bool try_alloc(core::Packet& pkt, uint32_t len) noexcept override;
    BackendStats stats() const noexcept override { return stats_; }
    std::string name() const override { return "pcap"; }

    bool eof() const noexcept { return eof_; }
    const BufferPool& pool() const noexcept { return pool_; }

private:
    // Writes the frames to `w` (if any) and gives their buffers back.
    void write_and_release(PcapWriter* w, const core::Packet* pkts, uint16_t n) noexcept;

    Options opt_;
    pcap* rx_ = nullptr;
    std::unique_ptr<PcapWriter> tx_, pass_;
    BufferPool pool_;
    bool eof_ = false;
    BackendStats stats_;
};

}  // namespace ingress::io
