// The DPDK backend: one ethdev port (a PCI NIC or a vdev: net_af_xdp, net_af_packet,
// net_pcap) with one RX and one TX queue per worker, and a net_tap exception interface that
// gives the kernel the frames the dataplane does not consume. docs/dpdk.md is the user's
// guide (EAL arguments, RSS fields and fragments, the exception path).
//
// Buffers: one mempool per port, shared by its queues and its TAP. A Packet views an mbuf
// without copying: Packet.buf is the rte_mbuf pointer, Packet.data its first byte
// (rte_pktmbuf_mtod). Frames that span several mbufs (jumbo frames with scatter) are not
// received: they are freed and counted in rx_oversize. Freeing from any worker is safe (the
// mempool is multi-producer/multi-consumer), so buffers may move between workers.
//
// Steering (what the XDP program does in AF_XDP mode; the rule is steer.h's): a received
// frame whose IPv4 destination is not one the dataplane handles (DstSet: our addresses,
// broadcasts, joined groups; the daemon keeps it in sync), or whose IP protocol it does not
// take (UDP, and what raw endpoints asked for), never enters the pipeline: rx_burst() sends
// it to the TAP at once and counts it in `steered`. ARP, IPv6, TCP, ICMP echo, traffic for the
// host's other addresses... reach the kernel so, and the pipeline's counters match AF_XDP mode's.
// capture_all (or no TAP) hands every frame to the pipeline. A frame steered to the pipeline
// carries what the steering parsed (Ethernet header, first VLAN tag: kFlagL2Parsed), so
// eth_type_trans and vlan_untag do not parse it again.
//
// The exception path, per queue q of the port:
//   steered frames and pass_burst() -> TAP TX queue q -> the kernel's stack (ARP, TCP,
//                  ICMP echo, ...)
//   the kernel's replies -> TAP RX queue q -> port TX queue q, sent by the worker of queue q
//                  from rx_burst(), once every `exception_poll` polls (reading a TAP is a
//                  system call per frame: not on every poll)
// Everything is counted in BackendStats: steered and passed (accepted by the TAP),
// pass_dropped (the TAP refused either), from_kernel (sent out of the port),
// from_kernel_dropped (the port refused), and from the device's own statistics rx_missed
// (its RX ring was full) and alloc_fail (no mbuf for it).
//
// Threads: queue q (port RX/TX q, TAP RX/TX q) is used only by the worker that polls it.
// tx_burst() and pass_burst() send on the calling worker's queue, the one it named in
// attach_thread(): the frames may have been received on another queue (fragments handed
// over by the defrag mesh) and the pipeline names queue 0 for a burst with no received
// frame (timers), and another worker's queue must never be used. A thread that did not
// attach (tests) sends on the queue of the first frame.
//
// Idle (wait_rx, poll_mode): with `rx_interrupts`, the port and the TAP are configured with
// rx interrupts where their PMDs take them, and an idle worker sleeps in an epoll on its
// queue's interrupts (the port's, and the TAP's so the kernel's frames go out at once),
// registered from attach_thread. Whether the port has them is probed at start (configured
// with rx interrupts, queue 0's event fd asked for and armed once); without them (a PMD that
// has none: net_af_packet, net_af_xdp, net_memif in DPDK 22.11) one line says so and wait_rx()
// returns false: the worker then sleeps a bounded micro-sleep backoff (worker.h) in
// micro_sleep(), a ppoll() on the exception TAP's queue fd (net_tap's rx interrupt: readable
// while the kernel's frames wait) that sends them out the moment they come. Workers should register
// with DPDK (ThreadRegistration) so the mempool's per-lcore cache serves them; an unregistered
// thread is correct but goes to the mempool's shared ring on every alloc/free.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/backend.h"
#include "io/dpdk/dst_set.h"
#include "io/dpdk/steer.h"
#include "io/kernel_frames.h"
#include "io/steering.h"
#include "wire/ethernet.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_eth_conf;
struct rte_eth_dev_info;

namespace ingress::io::dpdk {

// rte_eal_init() with these arguments, once per process (later calls check nothing and
// return). The calling thread's CPU affinity is restored afterwards: the EAL pins it to its
// main lcore, and threads created later would inherit that. Throws std::runtime_error.
// PCI devices must be probed by the EAL: `pci_devices` become `-a ADDR` arguments.
void eal_init(const std::vector<std::string>& eal_args,
              const std::vector<std::string>& pci_devices);

// Undoes eal_init() at exit: rte_eal_cleanup(), then the EAL's runtime directory
// (/var/run/dpdk/PREFIX) is removed. No-op when the EAL is not up. After the last backend.
void eal_cleanup();

// The socket file a net_memif vdev in the server role binds ("net_memif0,role=server,
// socket=/run/x.sock,socket-abstract=no"); nullopt for other devices, the client role or an
// abstract socket (no file).
std::optional<std::string> memif_server_socket(const std::string& device);

// A UNIX socket file no process listens on (`proc_net_unix` lists every bound socket of
// this network namespace) is a dead process's leftover and is unlinked: kRemoved. kLive:
// someone listens (or it cannot be told); kNone: no socket file there. A listener in another
// network namespace is not seen: give each daemon its own socket path.
enum class StaleSocket : uint8_t { kNone, kRemoved, kLive };
StaleSocket remove_stale_socket(const std::string& path,
                                const std::string& proc_net_unix = "/proc/net/unix");

// Whether `device` is a PCI address ("0000:01:00.0" or "01:00.0") rather than a vdev.
bool is_pci_address(const std::string& device);

// Registers the calling (non-EAL) thread as a DPDK lcore for its lifetime: per-lcore
// mempool caches then work. Not fatal when no lcore id is left (registered() is false; the
// thread then uses the mempool without a cache).
class ThreadRegistration {
public:
    ThreadRegistration() noexcept;
    ~ThreadRegistration();
    ThreadRegistration(const ThreadRegistration&) = delete;
    ThreadRegistration& operator=(const ThreadRegistration&) = delete;
    bool registered() const noexcept { return registered_; }

private:
    bool registered_ = false;
};

// The RSS hash types asked for (docs/dpdk.md: RSS and fragments); masked by what the NIC offers.
enum class RssFields : uint8_t { kIp, kIpUdp };

struct PortOptions {
    std::string name;       // for messages
    std::string device;     // PCI address (probed by eal_init) or vdev "net_af_xdp0,iface=..."
    std::string exception;  // the TAP's kernel name; empty: no exception path (passed = freed)
    uint16_t queues = 1;    // RX and TX queues 0..queues-1
    uint32_t mbufs = 16383;
    uint32_t mbuf_cache = 256;
    uint16_t rx_descriptors = 1024;
    uint16_t tx_descriptors = 1024;
    uint32_t exception_poll = 16;
    RssFields rss = RssFields::kIpUdp;
    // Ask the PMDs for rx interrupts (an idle worker sleeps on them: wait_rx). Where the
    // port refuses them, it is configured without and wait_rx() reports no wakeup.
    bool rx_interrupts = false;
    // How an idle worker micro-sleeps where the port has none, for that log line (the
    // dataplane's worker::micro_sleep_text of the interface's idle timings); may be empty.
    std::string micro_sleep;
};

class DpdkBackend final : public Backend, public Steering {
public:
    // eal_init() must have run. Attaches the device (vdevs are hot-plugged, and removed again
    // by the destructor), creates the mempool, configures and starts the port and its TAP.
    // Throws std::runtime_error naming the port and the step that failed.
    explicit DpdkBackend(const PortOptions& opt);
    ~DpdkBackend() override;

    uint16_t rx_burst(uint16_t queue, core::Packet* pkts, uint16_t max) noexcept override;
    uint16_t tx_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept override;
    void pass_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept override;
    // The exception TAP is the path to the kernel; without one nothing reaches it.
    bool can_pass() const noexcept override { return tap_ != UINT16_MAX; }
    void free_bulk(const uint64_t* bufs, uint16_t n) noexcept override;
    bool try_alloc(core::Packet& pkt, uint32_t len) noexcept override;
    void attach_thread(uint16_t queue) noexcept override;
    bool wait_rx(uint16_t queue, uint64_t timeout_ns) noexcept override;
    void micro_sleep(uint16_t queue, uint64_t ns) noexcept override;
    BackendStats stats() const noexcept override;
    // The backend group, then the port's "rte_eth_stats" (imissed, rx_nombuf, ierrors, ...).
    std::vector<core::CounterGroup> counter_groups() const override;
    std::string name() const override { return "dpdk"; }

    // The port's MAC (the TAP has the same, so the kernel's replies carry it).
    const wire::Mac& mac() const noexcept { return mac_; }
    // The kernel's ifindex of the exception TAP (Packet.ifindex of received frames), 0 if none.
    uint32_t ifindex() const noexcept { return ifindex_; }
    // What was configured: driver name, RSS hash fields granted, queues.
    std::string describe() const;

    // Steering, from the control thread while workers run (see above). false: the set is full.
    [[nodiscard]] bool add_dst(wire::Ipv4Addr a) noexcept { return dsts_.insert(a); }
    bool add_dst(wire::Ipv4Addr a, uint8_t prefix_len, ipv4::RouteType) noexcept override {
        return prefix_len >= 32 ? add_dst(a) : dsts_.insert_prefix(a, prefix_len);
    }
    void remove_dst(wire::Ipv4Addr a, uint8_t prefix_len) noexcept override {
        if (prefix_len >= 32)
            dsts_.erase(a);
        else
            dsts_.erase_prefix(a, prefix_len);
    }
    void set_capture_all(bool on) noexcept override {
        capture_all_.store(on, std::memory_order_relaxed);
    }
    // Copies of the frames rx_burst steers to the kernel (up to 1536 bytes each), for the
    // packet taps, as the XDP program's tap ring buffer on AF_XDP: on while a tap is open
    // (from the control thread). kernel_frames(q) is queue q's, drained by the worker that
    // polls q (rx_burst fills it on that same thread: no synchronisation); a full one loses
    // the copy (tap_lost), never the frame.
    void set_tap_copy(bool on) noexcept { tap_copy_.store(on, std::memory_order_relaxed); }
    io::KernelFrames* kernel_frames(uint16_t queue) noexcept;
    // Whether frames of this IP protocol for our destinations enter the pipeline (UDP at
    // first, as the XDP program's ingress_proto map).
    void set_protocol(uint8_t protocol, bool take) noexcept override {
        protocols_[protocol].store(take, std::memory_order_relaxed);
    }

private:
    struct Queue;
    void open();
    void close() noexcept;      // undoes what open() did, also after a partial open()
    void start_port(bool tap);  // configures queues (RSS on the port), starts
    void configure_port(bool tap, bool rx_intr);
    // Whether the started `port` has rx interrupts to sleep on: "" if so (`arm`: they are
    // enabled per sleep; false: always on, as net_tap's), else why not.
    static std::string probe_rx_interrupts(uint16_t port, bool& arm) noexcept;
    // RTE_ETH_RX_OFFLOAD_TIMESTAMP when the port offers it (ts_off_, ts_flag_), else one line.
    void enable_rx_timestamps(const rte_eth_dev_info& info, rte_eth_conf& conf);
    void service_exception(Queue& Q) noexcept;
    Queue* own_queue(uint16_t fallback) const noexcept;  // the calling worker's (see above)
    // To TAP queue Q.id: counts accepted frames in `*accepted`, frees and counts the rest.
    void to_kernel(Queue& Q, rte_mbuf** m, uint16_t n,
                   core::Counter QueueStats::*accepted) noexcept;

    PortOptions opt_;
    uint16_t port_ = UINT16_MAX;
    uint16_t tap_ = UINT16_MAX;
    std::string port_vdev_, tap_vdev_;  // vdev names we hot-plugged (removed on destruction)
    rte_mempool* pool_ = nullptr;
    wire::Mac mac_{};
    uint32_t ifindex_ = 0;
    uint64_t rss_hf_ = 0;
    bool port_intr_ = false, tap_intr_ = false;  // configured with rx interrupts
    bool port_arm_ = false, tap_arm_ = false;    // ... armed per sleep (rx_intr_enable)
    std::string driver_;
    // RTE_ETH_RX_OFFLOAD_TIMESTAMP granted: the mbuf's rx timestamp dynfield (offset) and
    // ol_flags bit; ts_flag_ 0 when the driver has no hardware stamps (never matches).
    // ts_scale_: the PMD's unit in nanoseconds (net_pcap stamps microseconds).
    int ts_off_ = -1;
    uint64_t ts_flag_ = 0;
    uint64_t ts_scale_ = 1;
    std::vector<std::unique_ptr<Queue>> queues_;
    std::atomic<uint64_t> freed_{0};  // free_bulk may run on any worker
    std::atomic<bool> capture_all_{false};
    std::atomic<bool> tap_copy_{false};
    ProtocolSet protocols_{};
    DstSet dsts_;
};

}  // namespace ingress::io::dpdk
