#include "io/pcap.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "io/rx_packet.h"

namespace ingress::io {
namespace {

// The largest frame we keep: a 65535-byte IPv4 datagram behind Ethernet and two VLAN tags.
constexpr uint32_t kMaxFrame = 65535 + 14 + 8;

}  // namespace

PcapWriter::PcapWriter(const std::string& path, uint32_t snaplen) {
    handle_ = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, static_cast<int>(snaplen),
                                                   PCAP_TSTAMP_PRECISION_NANO);
    if (!handle_) throw std::runtime_error(path + ": cannot create a pcap handle");
    dumper_ = pcap_dump_open(handle_, path.c_str());
    if (!dumper_) {
        std::string err = pcap_geterr(handle_);
        pcap_close(handle_);
        throw std::runtime_error(path + ": " + err);
    }
}

PcapWriter::~PcapWriter() {
    if (dumper_) pcap_dump_close(dumper_);
    if (handle_) pcap_close(handle_);
}

void PcapWriter::write(std::span<const uint8_t> frame, uint64_t ts_ns) {
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(ts_ns / 1'000'000'000ull);
    // With nanosecond precision, libpcap stores tv_usec as nanoseconds.
    h.ts.tv_usec = static_cast<suseconds_t>(ts_ns % 1'000'000'000ull);
    h.caplen = h.len = static_cast<uint32_t>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, frame.data());
}

void PcapWriter::flush() {
    pcap_dump_flush(dumper_);
}

PcapBackend::PcapBackend(const Options& opt)
    : opt_(opt), pool_(std::max<uint32_t>(opt.buffers, core::kBurst), kMaxFrame) {
    char err[PCAP_ERRBUF_SIZE] = {};
    rx_ = pcap_open_offline_with_tstamp_precision(opt.rx_path.c_str(), PCAP_TSTAMP_PRECISION_NANO,
                                                  err);
    if (!rx_) throw std::runtime_error(opt.rx_path + ": " + err);
    if (int dlt = pcap_datalink(rx_); dlt != DLT_EN10MB) {
        pcap_close(rx_);
        rx_ = nullptr;
        throw std::runtime_error(opt.rx_path + ": not an Ethernet capture (link type " +
                                 std::to_string(dlt) + ")");
    }
    if (opt.tx_path) tx_ = std::make_unique<PcapWriter>(*opt.tx_path);
    if (opt.pass_path) pass_ = std::make_unique<PcapWriter>(*opt.pass_path);
}

PcapBackend::~PcapBackend() {
    if (rx_) pcap_close(rx_);
}

uint16_t PcapBackend::rx_burst(uint16_t queue, core::Packet* pkts, uint16_t max) noexcept {
    uint16_t n = 0;
    while (n < max && !eof_) {
        // Take the buffer before reading, so a frame is never read without a place to go:
        // when every buffer is held (e.g. by reassembly) the file simply waits.
        uint64_t b = pool_.try_get();
        if (b == BufferPool::kNone) {
            ++stats_.alloc_fail;
            break;
        }
        pcap_pkthdr* h;
        const u_char* bytes;
        int rc = pcap_next_ex(rx_, &h, &bytes);
        if (rc != 1) {  // -2: end of file; -1: a read error (reported as the end)
            pool_.put(b);
            eof_ = true;
            break;
        }
        if (h->caplen > pool_.buf_size()) {
            pool_.put(b);
            ++stats_.rx_oversize;
            continue;
        }
        std::memcpy(pool_.data(b), bytes, h->caplen);
        // The capture's clock (nanosecond precision: tv_usec holds nanoseconds).
        const uint64_t ts = static_cast<uint64_t>(h->ts.tv_sec) * 1'000'000'000ull +
                            static_cast<uint64_t>(h->ts.tv_usec);
        init_packet(pkts[n++], pool_.data(b), h->caplen, b, queue, opt_.ifindex, ts);
    }
    stats_.rx += n;
    return n;
}

void PcapBackend::write_and_release(PcapWriter* w, const core::Packet* pkts, uint16_t n) noexcept {
    for (uint16_t i = 0; i < n; ++i) {
        if (w) w->write(pkts[i].frame(), pkts[i].rx_ns);
        pool_.put(pkts[i].buf);
    }
}

uint16_t PcapBackend::tx_burst(uint16_t, core::Packet* pkts, uint16_t n) noexcept {
    write_and_release(tx_.get(), pkts, n);
    stats_.tx += n;
    return n;
}

void PcapBackend::pass_burst(uint16_t, core::Packet* pkts, uint16_t n) noexcept {
    write_and_release(pass_.get(), pkts, n);
    stats_.passed += n;
}

void PcapBackend::free_bulk(const uint64_t* bufs, uint16_t n) noexcept {
    for (uint16_t i = 0; i < n; ++i) pool_.put(bufs[i]);
    stats_.freed += n;
}

bool PcapBackend::try_alloc(core::Packet& pkt, uint32_t len) noexcept {
    if (pool_.try_lend(pkt, len, opt_.ifindex)) return true;
    if (len <= pool_.buf_size()) ++stats_.alloc_fail;
    return false;
}

}  // namespace ingress::io
