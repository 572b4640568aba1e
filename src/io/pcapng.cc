#include "io/pcapng.h"

#include <cstring>

namespace ingress::io {

namespace {

// Block types and option codes (draft-ietf-opsawg-pcapng sections 4 and 3.5).
constexpr uint32_t kShb = 0x0A0D0D0A;
constexpr uint32_t kIdb = 0x00000001;
constexpr uint32_t kEpb = 0x00000006;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint16_t kOptEnd = 0, kOptComment = 1;
constexpr uint16_t kIfName = 2, kIfTsresol = 9;
constexpr uint16_t kEpbFlags = 2;
constexpr uint16_t kLinktypeEthernet = 1;
constexpr uint32_t kInbound = 1;  // epb_flags bits 0-1: 01 inbound

void put(std::vector<uint8_t>& b, const void* p, std::size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    b.insert(b.end(), c, c + n);
}
template <class T>
void put(std::vector<uint8_t>& b, T v) {
    put(b, &v, sizeof v);  // host order: the byte-order magic tells the reader
}
void pad4(std::vector<uint8_t>& b) {
    while (b.size() % 4) b.push_back(0);
}
void option(std::vector<uint8_t>& b, uint16_t code, const void* p, std::size_t n) {
    put<uint16_t>(b, code);
    put<uint16_t>(b, static_cast<uint16_t>(n));
    put(b, p, n);
    pad4(b);
}

}  // namespace

PcapngWriter::PcapngWriter(std::FILE* f) : f_(f) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, kByteOrderMagic);
    put<uint16_t>(b, 1);  // major
    put<uint16_t>(b, 0);  // minor
    put<int64_t>(b, -1);  // section length: not given
    const std::string app = "ingressctl capture (ingress)";
    option(b, 4 /* shb_userappl */, app.data(), app.size());
    option(b, kOptEnd, nullptr, 0);
    block(kShb, b);
}

uint32_t PcapngWriter::interface(uint32_t ifindex, const std::string& name, uint32_t snaplen) {
    auto it = ids_.find(ifindex);
    if (it != ids_.end()) return it->second;
    std::vector<uint8_t> b;
    put<uint16_t>(b, kLinktypeEthernet);
    put<uint16_t>(b, 0);
    put<uint32_t>(b, snaplen);
    option(b, kIfName, name.data(), name.size());
    const uint8_t nanoseconds = 9;
    option(b, kIfTsresol, &nanoseconds, 1);
    option(b, kOptEnd, nullptr, 0);
    block(kIdb, b);
    const auto id = static_cast<uint32_t>(ids_.size());
    ids_.emplace(ifindex, id);
    return id;
}

void PcapngWriter::packet(uint32_t iface_id, uint64_t ts_ns, std::span<const uint8_t> bytes,
                          uint32_t orig_len, const std::string& comment, Reception rx) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, iface_id);
    put<uint32_t>(b, static_cast<uint32_t>(ts_ns >> 32));
    put<uint32_t>(b, static_cast<uint32_t>(ts_ns));
    put<uint32_t>(b, static_cast<uint32_t>(bytes.size()));
    put<uint32_t>(b, orig_len);
    put(b, bytes.data(), bytes.size());
    pad4(b);
    if (!comment.empty()) option(b, kOptComment, comment.data(), comment.size());
    const uint32_t flags = kInbound | static_cast<uint32_t>(rx) << 2;
    option(b, kEpbFlags, &flags, sizeof flags);
    option(b, kOptEnd, nullptr, 0);
    block(kEpb, b);
}

void PcapngWriter::block(uint32_t type, const std::vector<uint8_t>& body) {
    const auto total = static_cast<uint32_t>(12 + body.size());
    std::vector<uint8_t> b;
    b.reserve(total);
    put<uint32_t>(b, type);
    put<uint32_t>(b, total);
    put(b, body.data(), body.size());
    put<uint32_t>(b, total);
    if (std::fwrite(b.data(), 1, b.size(), f_) != b.size()) ok_ = false;
}

}  // namespace ingress::io
