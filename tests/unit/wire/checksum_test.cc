#include "wire/checksum.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace ingress::wire {
namespace {

TEST(Checksum, Rfc1071Example) {
    // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2; the checksum is its complement.
    const std::vector<uint8_t> b = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    EXPECT_EQ(internet_checksum(b), static_cast<uint16_t>(~0xddf2));
    EXPECT_EQ(internet_checksum_reference(b), static_cast<uint16_t>(~0xddf2));
}

TEST(Checksum, KnownIpv4Header) {
    // A classic example header (Wikipedia's "IPv4 header checksum"): checksum b861.
    std::vector<uint8_t> h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                              0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    EXPECT_EQ(internet_checksum(h), 0xb861);
    h[10] = 0xb8;
    h[11] = 0x61;
    EXPECT_EQ(internet_checksum(h), 0) << "a header with its checksum sums to zero";
}

TEST(Checksum, MatchesReferenceOnEveryLengthAndAlignment) {
    std::mt19937 rng(42);
    std::vector<uint8_t> buf(9100);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    for (std::size_t len = 0; len < 300; ++len)
        for (std::size_t off = 0; off < 8; ++off)
            ASSERT_EQ(internet_checksum({buf.data() + off, len}),
                      internet_checksum_reference({buf.data() + off, len}))
                << "len " << len << " off " << off;
    for (std::size_t len : {1499u, 1500u, 4096u, 9000u})
        EXPECT_EQ(internet_checksum({buf.data() + 1, len}),
                  internet_checksum_reference({buf.data() + 1, len}));
}

TEST(Checksum, ShortInlineSumEqualsCsumPartialOnEveryLengthAndAlignment) {
    // csum_partial_short() is what udp4_csum_init()'s immediate check (CHECKSUM_BREAK, 76
    // bytes) sums: the same running sum as csum_partial(), chained after any accumulator.
    std::mt19937 rng(11);
    std::vector<uint8_t> buf(200);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    for (uint64_t acc : {uint64_t{0}, uint64_t{0xffffffffffffffffu}, uint64_t{0x1234abcd}}) {
        for (std::size_t len = 0; len <= 160; ++len) {
            for (std::size_t off = 0; off < 8; ++off) {
                const uint64_t s = csum_partial_short(buf.data() + off, len, acc);
                ASSERT_EQ(csum_fold(s), csum_fold(csum_partial(buf.data() + off, len, acc)))
                    << "len " << len << " off " << off;
                if (acc == 0) {
                    ASSERT_EQ(csum_fold(s), internet_checksum_reference({buf.data() + off, len}));
                }
            }
        }
    }
}

TEST(Checksum, IpFastCsumEqualsTheGenericSumForEveryHeaderLength) {
    std::mt19937 rng(7);
    std::vector<uint8_t> h(60);
    for (int round = 0; round < 1000; ++round) {
        for (auto& b : h) b = static_cast<uint8_t>(rng());
        for (unsigned ihl = 5; ihl <= 15; ++ihl)
            ASSERT_EQ(ip_fast_csum(h.data(), ihl),
                      internet_checksum_reference({h.data(), ihl * 4}));
    }
    std::vector<uint8_t> ones(60, 0xff);
    EXPECT_EQ(ip_fast_csum(ones.data(), 15), internet_checksum_reference(ones));
}

TEST(Checksum, AllOnesDataDoesNotLoseCarries) {
    std::vector<uint8_t> ff(65535, 0xff);
    EXPECT_EQ(internet_checksum(ff), internet_checksum_reference(ff));
}

TEST(Checksum, ChainedChunksAtEvenOffsetsEqualOneShot) {
    std::vector<uint8_t> b(1001);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7);
    uint64_t acc = csum_partial({b.data(), 100});
    acc = csum_partial({b.data() + 100, 402}, acc);
    acc = csum_partial({b.data() + 502, 499}, acc);
    EXPECT_EQ(csum_fold(acc), internet_checksum(b));
}

TEST(Checksum, PseudoHeaderEqualsExplicitBytes) {
    const uint8_t ph[12] = {198, 18, 0, 2, 198, 18, 0, 1, 0, 17, 0x01, 0x2c};
    EXPECT_EQ(csum_fold(pseudo_header_sum(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 1), 17, 300)),
              internet_checksum_reference(ph));
}

}  // namespace
}  // namespace ingress::wire
