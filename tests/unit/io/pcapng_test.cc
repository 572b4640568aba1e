// The pcapng writer (io/pcapng.h): libpcap reads the file back (blocks, link type, ns
// timestamps, lengths), and each Enhanced Packet Block carries its comment and epb_flags.
#include "io/pcapng.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace ingress::io {
namespace {

std::vector<uint8_t> read_all(std::FILE* f) {
    std::vector<uint8_t> out;
    std::rewind(f);
    int c;
    while ((c = std::fgetc(f)) != EOF) out.push_back(static_cast<uint8_t>(c));
    return out;
}

uint32_t u32(const std::vector<uint8_t>& b, std::size_t off) {
    uint32_t v;
    std::memcpy(&v, &b[off], 4);
    return v;
}

TEST(Pcapng, LibpcapReadsFramesWithNanosecondTimes) {
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    PcapngWriter w(f);
    const std::vector<uint8_t> a(60, 0xaa), b(42, 0xbb);
    w.packet(w.interface(7, "eth7", 2048), 1'700'000'000'123'456'789ull, a, 60, "first");
    w.packet(w.interface(9, "eth9", 2048), 1'700'000'001'000'000'001ull, b, 1500, "second");
    w.flush();
    ASSERT_TRUE(w.ok());
    std::rewind(f);
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, err);
    ASSERT_NE(p, nullptr) << err;
    EXPECT_EQ(pcap_datalink(p), DLT_EN10MB);
    pcap_pkthdr* h;
    const u_char* data;
    ASSERT_EQ(pcap_next_ex(p, &h, &data), 1);
    EXPECT_EQ(h->ts.tv_sec, 1'700'000'000);
    EXPECT_EQ(h->ts.tv_usec, 123'456'789) << "nanoseconds (if_tsresol 9)";
    EXPECT_EQ(std::vector<uint8_t>(data, data + h->caplen), a);
    ASSERT_EQ(pcap_next_ex(p, &h, &data), 1);
    EXPECT_EQ(h->caplen, 42u);
    EXPECT_EQ(h->len, 1500u) << "original length kept";
    EXPECT_EQ(pcap_next_ex(p, &h, &data), PCAP_ERROR_BREAK);
    pcap_close(p);  // closes f
}

TEST(Pcapng, EachPacketCarriesItsCommentAndInboundFlag) {
    std::FILE* f = std::tmpfile();
    PcapngWriter w(f);
    const std::vector<uint8_t> frame(61, 1);  // not a multiple of 4: padding before options
    w.packet(w.interface(3, "veth0", 2048), 0, frame, 61, "drop reason SKB_DROP_REASON_NO_SOCKET");
    w.flush();
    const std::vector<uint8_t> bytes = read_all(f);
    std::fclose(f);
    // SHB, IDB, EPB: walk the blocks by their lengths.
    std::size_t off = 0;
    std::vector<uint32_t> types;
    std::size_t epb = 0;
    while (off + 12 <= bytes.size()) {
        const uint32_t type = u32(bytes, off), len = u32(bytes, off + 4);
        ASSERT_EQ(len % 4, 0u);
        ASSERT_EQ(u32(bytes, off + len - 4), len) << "trailing length";
        if (type == 6) epb = off;
        types.push_back(type);
        off += len;
    }
    EXPECT_EQ(off, bytes.size());
    EXPECT_EQ(types, (std::vector<uint32_t>{0x0A0D0D0A, 1, 6}));
    // Options after the 20-byte EPB header and the padded frame.
    std::size_t o = epb + 8 + 20 + 64;
    ASSERT_EQ(bytes[o] | bytes[o + 1] << 8, 1) << "opt_comment";
    const std::size_t clen = bytes[o + 2] | bytes[o + 3] << 8;
    EXPECT_EQ(std::string(bytes.begin() + o + 4, bytes.begin() + o + 4 + clen),
              "drop reason SKB_DROP_REASON_NO_SOCKET");
    o += 4 + (clen + 3) / 4 * 4;
    ASSERT_EQ(bytes[o] | bytes[o + 1] << 8, 2) << "epb_flags";
    EXPECT_EQ(u32(bytes, o + 4) & 3u, 1u) << "direction inbound";
}

}  // namespace
}  // namespace ingress::io
