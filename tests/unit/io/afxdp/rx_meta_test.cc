// The AF_XDP backend's reading of the device-bound XDP program's metadata (rx_meta.h,
// xdp/ingress_xdp.h struct ingress_xdp_meta): a stamp the program wrote for this frame is
// taken (kFlagHwTstamp, hw_tstamp() reads it where the DPDK backend leaves its own), a record
// without a stamp sets nothing, and bytes the program did not write for this frame (zeros, a
// previous frame's metadata, another length, a frame built in the same UMEM frame) are never
// read as a stamp.
#include "io/afxdp/rx_meta.h"

#include <gtest/gtest.h>

#include <array>

namespace ingress::io::afxdp {
namespace {

constexpr uint32_t kHeadroom = 256;  // XDP_PACKET_HEADROOM: where the frame starts in its chunk
constexpr uint32_t kLen = 60;
constexpr uint64_t kStamp = 1'733'280'000'123'456'789ull;

struct Chunk {
    std::array<uint8_t, 2048> bytes{};
    core::Packet pkt;
    explicit Chunk(uint32_t headroom = kHeadroom) {
        pkt.data = bytes.data() + headroom;
        pkt.len = kLen;
    }
    void write(uint32_t magic, uint32_t len, uint64_t ns) {
        const ingress_xdp_meta m{magic, len, ns};
        std::memcpy(pkt.data - sizeof m, &m, sizeof m);
    }
    uint32_t magic() const {
        ingress_xdp_meta m;
        std::memcpy(&m, pkt.data - sizeof m, sizeof m);
        return m.magic;
    }
};

TEST(RxMeta, StampWrittenForThisFrameIsTakenAndConsumed) {
    Chunk c;
    c.write(INGRESS_XDP_META_MAGIC, kLen, kStamp);
    EXPECT_TRUE(take_rx_meta(c.pkt, kHeadroom));
    EXPECT_TRUE(c.pkt.flags & core::kFlagHwTstamp);
    EXPECT_EQ(c.pkt.hw_tstamp(), kStamp) << "the stamp stays in the 8 bytes before the frame";
    EXPECT_EQ(c.magic(), 0u) << "cleared as read";
    // The next frame received into this chunk without fresh metadata (the program did not
    // write it) finds the old stamp's bytes, but no magic.
    core::Packet again{};
    again.data = c.pkt.data;
    again.len = kLen;
    EXPECT_FALSE(take_rx_meta(again, kHeadroom));
    EXPECT_FALSE(again.flags & core::kFlagHwTstamp);
}

TEST(RxMeta, MetadataWithoutStampSetsNoFlag) {
    // What veth gives (veth_xdp_rx_timestamp: -ENODATA for a frame without skb hwtstamps).
    Chunk c;
    c.write(INGRESS_XDP_META_MAGIC, kLen, 0);
    c.pkt.flags = core::kFlagVlan;
    EXPECT_TRUE(take_rx_meta(c.pkt, kHeadroom));
    EXPECT_EQ(c.pkt.flags, core::kFlagVlan) << "other flags untouched, no kFlagHwTstamp";
    EXPECT_EQ(c.magic(), 0u);
}

TEST(RxMeta, NoMetadataNothingTaken) {
    Chunk c;  // a fresh UMEM: zeros
    EXPECT_FALSE(take_rx_meta(c.pkt, kHeadroom));
    EXPECT_EQ(c.pkt.flags, 0u);
}

TEST(RxMeta, GarbageIsNeverAStamp) {
    struct Case {
        const char* what;
        uint32_t magic, len;
    };
    for (const Case& k :
         {Case{"another magic", INGRESS_XDP_META_MAGIC ^ 1u, kLen},
          Case{"a previous frame's record, another length", INGRESS_XDP_META_MAGIC, kLen + 4},
          Case{"bytes of a frame built in this chunk", 0x45000054u, kLen}}) {
        Chunk c;
        c.write(k.magic, k.len, kStamp);
        EXPECT_FALSE(take_rx_meta(c.pkt, kHeadroom)) << k.what;
        EXPECT_FALSE(c.pkt.flags & core::kFlagHwTstamp) << k.what;
        EXPECT_EQ(c.magic(), k.magic) << k.what << ": left as it was";
    }
}

TEST(RxMeta, NoRoomBeforeTheFrameNothingRead) {
    // A frame that starts less than the record's size into its chunk: the bytes before it
    // belong to the previous chunk and are not looked at.
    Chunk c(sizeof(ingress_xdp_meta));
    c.write(INGRESS_XDP_META_MAGIC, kLen, kStamp);
    EXPECT_FALSE(take_rx_meta(c.pkt, sizeof(ingress_xdp_meta) - 1));
    EXPECT_TRUE(take_rx_meta(c.pkt, sizeof(ingress_xdp_meta)));
}

}  // namespace
}  // namespace ingress::io::afxdp
