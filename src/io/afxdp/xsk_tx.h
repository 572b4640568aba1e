// A transmit-only AF_XDP socket for the generator: every frame template is written into its
// own UMEM frame once; sending is then only descriptors pointing at the templates, recycled
// through the completion ring (the same template may be in flight several times: the NIC
// only reads it). No XDP program is needed to transmit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct xsk_umem;
struct xsk_socket;

namespace ingress::io::afxdp {

class XskTx {
public:
    // Throws std::runtime_error naming the interface and queue.
    XskTx(const std::string& ifname, uint16_t queue,
          const std::vector<std::vector<uint8_t>>& templates, uint32_t ring_size = 2048,
          bool zero_copy_only = false);
    ~XskTx();
    XskTx(const XskTx&) = delete;
    XskTx& operator=(const XskTx&) = delete;

    // Queues up to n frames (the next templates, round robin) and kicks the kernel when it
    // asks. Returns how many were queued (fewer when the TX ring is full).
    uint32_t send(uint32_t n) noexcept;
    // Waits (polling) until every queued frame completed, or timeout_ms passed.
    bool drain(int timeout_ms) noexcept;

    uint64_t sent_frames() const noexcept { return sent_; }
    uint64_t sent_bytes() const noexcept { return bytes_; }  // without FCS
    uint64_t completed() const noexcept { return completed_; }
    bool zero_copy() const noexcept { return zero_copy_; }

private:
    void reclaim() noexcept;
    struct Rings;
    Rings* r_ = nullptr;
    void* area_ = nullptr;
    std::size_t area_size_ = 0;
    std::vector<uint32_t> lens_;
    uint32_t frame_size_ = 4096;
    uint32_t next_ = 0;
    uint32_t ring_size_;
    uint64_t sent_ = 0, bytes_ = 0, completed_ = 0;
    bool zero_copy_ = false;
};

}  // namespace ingress::io::afxdp
