#include "io/dpdk/backend.h"

#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <rte_eal.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "io/dpdk/steer.h"
#include "io/rx_packet.h"
#include "wire/ipv4.h"

namespace ingress::io::dpdk {
namespace {

std::string dpdk_error(int err) {
    return rte_strerror(err < 0 ? -err : err);
}

// DPDK's log on stderr, without the lines that look like errors and are not: the TAP PMD
// reports that the kernel has no multiq qdisc (it then leaves rte_flow off on the TAP,
// which ingressd does not use) and that it has no secondary process to tell about a start
// (ingressd runs none); ethdev says a port has no rx interrupt handle when the start-up probe
// asks (start_port's own line says so). Every other line passes.
ssize_t write_dpdk_log(void*, const char* buf, size_t n) {
    static constexpr std::string_view kBenign[] = {
        "qdisc", "Disabling rte flow support", "start req to secondary", "Rx Intr handle unset"};
    std::string_view rest(buf, n);
    while (!rest.empty()) {
        const std::size_t end = std::min(rest.find('\n'), rest.size() - 1) + 1;
        const std::string_view line = rest.substr(0, end);
        rest.remove_prefix(end);
        if (std::none_of(std::begin(kBenign), std::end(kBenign), [&](std::string_view b) {
                return line.find(b) != std::string_view::npos;
            }))
            std::fwrite(line.data(), 1, line.size(), stderr);
    }
    return static_cast<ssize_t>(n);
}

FILE* dpdk_log_stream() {
    static FILE* f = [] {
        FILE* s = fopencookie(nullptr, "w",
                              cookie_io_functions_t{nullptr, write_dpdk_log, nullptr, nullptr});
        if (s) setvbuf(s, nullptr, _IOLBF, 0);
        return s;
    }();
    return f;
}

rte_mbuf* mbuf_of(uint64_t buf) noexcept {
    return reinterpret_cast<rte_mbuf*>(static_cast<uintptr_t>(buf));
}

uint8_t* first_byte(rte_mbuf* m) noexcept {
    return static_cast<uint8_t*>(m->buf_addr) + m->data_off;
}

// Makes the mbuf describe the packet's bytes as they are now (the pipeline may have trimmed
// link padding, an ICMP error was written in place) and strips offload requests a received
// mbuf cannot carry on TX.
rte_mbuf* to_mbuf(const core::Packet& p) noexcept {
    rte_mbuf* m = mbuf_of(p.buf);
    m->data_off = static_cast<uint16_t>(p.data - static_cast<uint8_t*>(m->buf_addr));
    m->data_len = static_cast<uint16_t>(p.len);
    m->pkt_len = p.len;
    m->ol_flags &= ~RTE_MBUF_F_TX_OFFLOAD_MASK;
    return m;
}

// testpmd's names for the hash types ingressd asks for, for the start-up description.
std::string rss_names(uint64_t hf) {
    static const std::pair<uint64_t, const char*> names[] = {
        {RTE_ETH_RSS_IPV4, "ipv4"},
        {RTE_ETH_RSS_FRAG_IPV4, "frag-ipv4"},
        {RTE_ETH_RSS_NONFRAG_IPV4_OTHER, "ipv4-other"},
        {RTE_ETH_RSS_NONFRAG_IPV4_UDP, "ipv4-udp"},
    };
    std::string s;
    for (const auto& [bit, name] : names)
        if (hf & bit) s += (s.empty() ? "" : ",") + std::string(name);
    return s.empty() ? "none" : s;
}

std::atomic<unsigned> g_instance{0};  // unique mempool and vdev names within the process

// The queue the calling worker attached to (one worker, one queue of one port), -1 if none.
thread_local int t_queue = -1;

}  // namespace

bool is_pci_address(const std::string& device) {
    // [DDDD:]BB:SS.F, hex digits, function 0-7 (what `lspci -D` and dpdk-devbind.py print).
    auto hex = [&](std::size_t from, std::size_t n) {
        for (std::size_t i = from; i < from + n; ++i)
            if (!std::isxdigit(static_cast<unsigned char>(device[i]))) return false;
        return true;
    };
    std::size_t o = 0;
    if (device.size() == 12) {
        if (!hex(0, 4) || device[4] != ':') return false;
        o = 5;
    } else if (device.size() != 7) {
        return false;
    }
    return hex(o, 2) && device[o + 2] == ':' && hex(o + 3, 2) && device[o + 5] == '.' &&
           device[o + 6] >= '0' && device[o + 6] <= '7';
}

namespace {
std::mutex g_eal_mu;
bool g_eal_up = false;  // rte_eal_init succeeded and rte_eal_cleanup has not run
}  // namespace

std::optional<std::string> memif_server_socket(const std::string& device) {
    // net_memif's devargs (drivers/net/memif/rte_eth_memif.c): role=server|client (default
    // client), socket=PATH (default /run/memif.sock), socket-abstract=yes|no (default yes:
    // an abstract name, no file).
    if (!device.starts_with("net_memif")) return std::nullopt;
    std::string role = "client", path = "/run/memif.sock", abstract = "yes";
    std::size_t at = device.find(',');
    while (at != std::string::npos) {
        const std::size_t next = device.find(',', at + 1);
        const std::string kv =
            device.substr(at + 1, next == std::string::npos ? next : next - at - 1);
        const std::size_t eq = kv.find('=');
        if (eq != std::string::npos) {
            const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
            if (k == "role") role = v;
            if (k == "socket") path = v;
            if (k == "socket-abstract") abstract = v;
        }
        at = next;
    }
    if (role != "server" || abstract != "no") return std::nullopt;
    return path;
}

StaleSocket remove_stale_socket(const std::string& path, const std::string& proc_net_unix) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return StaleSocket::kNone;
    // A live owner has the path bound and listening: /proc/net/unix lists it (its Flags have
    // __SO_ACCEPTCON, 0x10000). Not connect(): DPDK 22.11's memif server panics when a peer
    // connects and goes away before the handshake (eal_intr_thread_main: epoll_ctl EBADF).
    std::ifstream in(proc_net_unix);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string num, refs, proto, flags, type, state, inode, bound;
        if (!(f >> num >> refs >> proto >> flags >> type >> state >> inode >> bound)) continue;
        if (bound == path && (std::strtoul(flags.c_str(), nullptr, 16) & 0x10000))
            return StaleSocket::kLive;
    }
    if (!in.eof() && in.fail()) return StaleSocket::kLive;  // cannot tell: leave it
    return unlink(path.c_str()) == 0 ? StaleSocket::kRemoved : StaleSocket::kLive;
}

void eal_cleanup() {
    std::lock_guard lock(g_eal_mu);
    if (!g_eal_up) return;
    g_eal_up = false;
    // rte_eal_cleanup() (22.11) releases the EAL's memory and threads but leaves its runtime
    // directory (/var/run/dpdk/PREFIX, or under XDG_RUNTIME_DIR) with its config, memseg
    // files and mp_socket: without this, every stop leaves one behind.
    const std::string dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    std::error_code ec;
    if (dir.empty() || !std::filesystem::exists(dir, ec)) return;
    std::filesystem::remove_all(dir, ec);
    if (ec)
        std::fprintf(stderr, "ingressd: dpdk: cannot remove the runtime directory %s: %s\n",
                     dir.c_str(), ec.message().c_str());
}

void eal_init(const std::vector<std::string>& eal_args,
              const std::vector<std::string>& pci_devices) {
    std::mutex& mu = g_eal_mu;
    static std::string failure;  // rte_eal_init cannot be retried: its verdict is final
    static bool done = false;
    // The EAL may keep pointers into argv: the strings live as long as the process.
    static std::vector<std::string> args;
    std::lock_guard lock(mu);
    if (done) {
        if (!failure.empty()) throw std::runtime_error(failure);
        return;
    }
    done = true;
    args = {"ingressd"};
    args.insert(args.end(), eal_args.begin(), eal_args.end());
    for (const auto& d : pci_devices) args.insert(args.end(), {"-a", d});
    std::vector<char*> argv;
    std::string joined;
    for (auto& a : args) {
        argv.push_back(a.data());
        joined += " " + a;
    }
    argv.push_back(nullptr);
    cpu_set_t saved;
    const bool have_affinity = pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) == 0;
    if (FILE* log = dpdk_log_stream()) rte_openlog_stream(log);
    const int r = rte_eal_init(static_cast<int>(args.size()), argv.data());
    if (have_affinity) pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    if (r < 0) {
        failure = "rte_eal_init(" + joined.substr(1) + "): " + dpdk_error(rte_errno);
        throw std::runtime_error(failure);
    }
    g_eal_up = true;
}

ThreadRegistration::ThreadRegistration() noexcept
    : registered_(rte_lcore_id() == LCORE_ID_ANY && rte_thread_register() == 0) {}

ThreadRegistration::~ThreadRegistration() {
    if (registered_) rte_thread_unregister();
}

namespace {

// One queue's copies of the frames steered to the kernel, for the taps (set_tap_copy):
// filled by rx_burst and drained by the pipeline, both on the queue's worker. Preallocated.
class KernelCopies final : public KernelFrames {
public:
    static constexpr uint32_t kSlots = 64, kSnap = 1536;
    bool try_push(const uint8_t* data, uint32_t len) noexcept {
        if (n_ == kSlots) return false;
        const uint32_t i = (head_ + n_++) % kSlots;
        len_[i] = std::min(len, kSnap);
        wire_[i] = len;
        std::memcpy(bytes_[i].data(), data, len_[i]);
        return true;
    }
    uint32_t drain(Sink sink, void* ctx, uint32_t max) noexcept override {
        uint32_t done = 0;
        for (; done < max && n_ > 0; ++done, --n_, head_ = (head_ + 1) % kSlots)
            sink(ctx, {bytes_[head_].data(), len_[head_]}, wire_[head_]);
        return done;
    }

private:
    std::array<std::array<uint8_t, kSnap>, kSlots> bytes_;
    std::array<uint32_t, kSlots> len_{}, wire_{};
    uint32_t head_ = 0, n_ = 0;
};

}  // namespace

struct alignas(64) DpdkBackend::Queue {
    uint16_t id = 0;
    uint32_t polls = 0;  // RX polls since the TAP was last read
    bool intr = false;   // the port queue's rx interrupt is in its worker's epoll
    bool tap_intr = false;
    int tap_fd = -1;  // the TAP queue's fd, for micro_sleep (no port interrupt to wait on)
    QueueStats st;
    KernelCopies copies;
};

KernelFrames* DpdkBackend::kernel_frames(uint16_t queue) noexcept {
    return queue < queues_.size() ? &queues_[queue]->copies : nullptr;
}

DpdkBackend::DpdkBackend(const PortOptions& opt) : opt_(opt) {
    protocols_[wire::kIpProtoUdp].store(true, std::memory_order_relaxed);
    try {
        open();
    } catch (const std::exception& e) {
        close();
        throw std::runtime_error("dpdk port " + opt.name + " (" + opt.device + "): " + e.what());
    }
}

DpdkBackend::~DpdkBackend() {
    close();
}

void DpdkBackend::open() {
    const unsigned id = g_instance++;
    const uint32_t q = opt_.queues;
    // Every descriptor of the port's and the TAP's rings can hold an mbuf, each lcore cache
    // can hold mbuf_cache, and each worker has a burst in flight: fewer and RX starves.
    const uint32_t rings =
        q * (opt_.rx_descriptors + opt_.tx_descriptors) * (opt_.exception.empty() ? 1 : 2);
    const uint32_t need = rings + (q + 1) * opt_.mbuf_cache + q * core::kBurst;
    if (opt_.mbufs < need)
        throw std::runtime_error("dpdk.mbufs " + std::to_string(opt_.mbufs) + " is too small for " +
                                 std::to_string(q) + " queue(s) and their descriptors (at least " +
                                 std::to_string(need) + ")");
    if (is_pci_address(opt_.device)) {
        // The EAL probed it (eal_init's -a): find its port by the full PCI name.
        std::string name = opt_.device.size() == 7 ? "0000:" + opt_.device : opt_.device;
        if (rte_eth_dev_get_port_by_name(name.c_str(), &port_) != 0) {
            port_ = UINT16_MAX;
            throw std::runtime_error(
                "no DPDK port for this PCI device: is it bound to vfio-pci (dpdk-devbind.py) and "
                "not excluded by --no-pci?");
        }
    } else {
        // A vdev, hot-plugged now so it goes away with this backend.
        const auto comma = opt_.device.find(',');
        const std::string name = opt_.device.substr(0, comma);
        const std::string args = comma == std::string::npos ? "" : opt_.device.substr(comma + 1);
        // A memif server binds its socket file: one left by a SIGKILLed ingressd would make
        // the attach fail (EADDRINUSE, reported as EPERM). Removed when no one listens on it.
        if (auto sock = memif_server_socket(opt_.device)) {
            switch (remove_stale_socket(*sock)) {
                case StaleSocket::kRemoved:
                    std::fprintf(stderr,
                                 "ingressd: dpdk port %s: removed the stale memif socket %s (no "
                                 "process listens on it)\n",
                                 opt_.name.c_str(), sock->c_str());
                    break;
                case StaleSocket::kLive:
                    throw std::runtime_error("the memif socket " + *sock +
                                             " is in use by a live process (another ingressd or "
                                             "memif server?)");
                case StaleSocket::kNone:
                    break;
            }
        }
        if (int r = rte_eal_hotplug_add("vdev", name.c_str(), args.c_str()); r < 0)
            throw std::runtime_error("cannot attach the vdev " + name + ": " + dpdk_error(r));
        port_vdev_ = name;
        if (rte_eth_dev_get_port_by_name(name.c_str(), &port_) != 0) {
            port_ = UINT16_MAX;
            throw std::runtime_error("the vdev " + name + " has no ethdev port");
        }
    }
    const int socket = rte_eth_dev_socket_id(port_);
    const std::string pool_name = "ingress" + std::to_string(id);
    pool_ = rte_pktmbuf_pool_create(pool_name.c_str(), opt_.mbufs, opt_.mbuf_cache, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (!pool_)
        throw std::runtime_error("cannot create a mempool of " + std::to_string(opt_.mbufs) +
                                 " mbufs: " + dpdk_error(rte_errno) + " (hugepages? -m?)");
    rte_ether_addr mac;
    rte_eth_macaddr_get(port_, &mac);
    std::copy(mac.addr_bytes, mac.addr_bytes + 6, mac_.b.begin());
    start_port(false);
    for (uint16_t i = 0; i < q; ++i) {
        queues_.push_back(std::make_unique<Queue>());
        queues_.back()->id = i;
    }
    if (opt_.exception.empty()) return;
    // The exception TAP: the kernel's view of this port, with the port's MAC so the kernel's
    // ARP replies and everything else it sends name the address the peers reach us at.
    tap_vdev_ = "net_tap_ingress" + std::to_string(id);
    char mac_s[18];
    std::snprintf(mac_s, sizeof mac_s, "%02x:%02x:%02x:%02x:%02x:%02x", mac_.b[0], mac_.b[1],
                  mac_.b[2], mac_.b[3], mac_.b[4], mac_.b[5]);
    const std::string args = "iface=" + opt_.exception + ",mac=" + mac_s;
    if (int r = rte_eal_hotplug_add("vdev", tap_vdev_.c_str(), args.c_str()); r < 0) {
        tap_vdev_.clear();
        throw std::runtime_error("cannot create the exception TAP " + opt_.exception + ": " +
                                 dpdk_error(r));
    }
    if (rte_eth_dev_get_port_by_name(tap_vdev_.c_str(), &tap_) != 0) {
        tap_ = UINT16_MAX;
        throw std::runtime_error("the exception TAP has no ethdev port");
    }
    start_port(true);
    ifindex_ = if_nametoindex(opt_.exception.c_str());
    if (!ifindex_)
        throw std::runtime_error("the exception TAP " + opt_.exception + " is not in the kernel");
}

void DpdkBackend::start_port(bool tap) {
    const uint16_t port = tap ? tap_ : port_;
    bool& intr = tap ? tap_intr_ : port_intr_;
    intr = false;
    if (opt_.rx_interrupts) {
        // A PMD without rx interrupts may refuse them at configure or at start: then again
        // without. Or it takes the flag and has none (net_memif, net_af_packet, net_af_xdp:
        // no interrupt vector): the probe asks for queue 0's interrupt fd and arms it once;
        // where that fails the port stays as it is (configured again, net_af_xdp could not
        // bind its socket a second time) and the worker's idle sleep is a micro-sleep.
        std::string why;
        bool started = false;
        try {
            configure_port(tap, true);
            started = true;
            why = probe_rx_interrupts(port, tap ? tap_arm_ : port_arm_);
        } catch (const std::exception& e) {
            why = e.what();
            rte_eth_dev_stop(port);
        }
        intr = started && why.empty();
        if (!intr && !tap)
            std::fprintf(stderr,
                         "ingressd: dpdk port %s (%s): no rx interrupts (%s): an idle worker "
                         "micro-sleeps instead%s\n",
                         opt_.name.c_str(), driver_.c_str(), why.c_str(),
                         opt_.micro_sleep.empty() ? "" : (" (" + opt_.micro_sleep + ")").c_str());
        if (started) return;
    }
    configure_port(tap, false);
}

std::string DpdkBackend::probe_rx_interrupts(uint16_t port, bool& arm) noexcept {
    if (rte_eth_dev_rx_intr_ctl_q_get_fd(port, 0) < 0) return "no interrupt fd for its queues";
    // Most PMDs arm the interrupt per sleep (rx_intr_enable / disable); net_tap's is its
    // queue's fd, readable whenever a frame waits: always armed, enable is not supported.
    const int r = rte_eth_dev_rx_intr_enable(port, 0);
    if (r != 0 && r != -ENOTSUP) return "rte_eth_dev_rx_intr_enable: " + dpdk_error(r);
    arm = r == 0;
    if (arm) rte_eth_dev_rx_intr_disable(port, 0);
    return {};
}

void DpdkBackend::configure_port(bool tap, bool rx_intr) {
    const uint16_t port = tap ? tap_ : port_;
    const uint16_t q = opt_.queues;
    const std::string what = tap ? "the exception TAP" : "the port";
    rte_eth_dev_info info{};
    if (int r = rte_eth_dev_info_get(port, &info); r != 0)
        throw std::runtime_error(what + ": rte_eth_dev_info_get: " + dpdk_error(r));
    if (q > info.max_rx_queues || q > info.max_tx_queues)
        throw std::runtime_error(what + " (" + info.driver_name + ") has " +
                                 std::to_string(info.max_rx_queues) + " RX / " +
                                 std::to_string(info.max_tx_queues) + " TX queues, " +
                                 std::to_string(q) + " asked");
    rte_eth_conf conf{};
    conf.intr_conf.rxq = rx_intr ? 1 : 0;
    if (!tap) {
        driver_ = info.driver_name;
        if (q > 1) {
            // The hash decides which worker sees a flow (docs/dpdk.md: fragments).
            uint64_t want =
                RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER;
            if (opt_.rss == RssFields::kIpUdp) want |= RTE_ETH_RSS_NONFRAG_IPV4_UDP;
            // A vdev over kernel queues offers no RSS: the kernel spreads the frames (the NIC
            // driver's RSS for net_af_xdp, ethtool -X / -N; a fanout hash for net_af_packet).
            rss_hf_ = want & info.flow_type_rss_offloads;
            if (rss_hf_) {
                conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_hf = rss_hf_;
            }
        }
    }
    if (!tap) enable_rx_timestamps(info, conf);
    if (int r = rte_eth_dev_configure(port, q, q, &conf); r != 0)
        throw std::runtime_error(what + ": rte_eth_dev_configure: " + dpdk_error(r));
    uint16_t nrx = opt_.rx_descriptors, ntx = opt_.tx_descriptors;
    rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
    const int socket = rte_eth_dev_socket_id(port);
    for (uint16_t i = 0; i < q; ++i) {
        if (int r = rte_eth_rx_queue_setup(port, i, nrx, socket, nullptr, pool_); r != 0)
            throw std::runtime_error(what + ": RX queue " + std::to_string(i) + ": " +
                                     dpdk_error(r));
        if (int r = rte_eth_tx_queue_setup(port, i, ntx, socket, nullptr); r != 0)
            throw std::runtime_error(what + ": TX queue " + std::to_string(i) + ": " +
                                     dpdk_error(r));
    }
    if (int r = rte_eth_dev_start(port); r != 0)
        throw std::runtime_error(what + ": rte_eth_dev_start: " + dpdk_error(r));
    // Multicast groups the apps join must arrive; a driver without the knob delivers them
    // or not by itself, which is not worth failing for.
    if (!tap) rte_eth_allmulticast_enable(port);
}

void DpdkBackend::enable_rx_timestamps(const rte_eth_dev_info& info, rte_eth_conf& conf) {
    ts_flag_ = 0;
    const bool offered = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP) != 0;
    // net_pcap stamps every mbuf with its record's time without offering the offload (DPDK
    // 22.11: eth_pcap_rx sets the flag it registered at probe; later ones offer it).
    const bool pcap = driver_ == "net_pcap";
    if (!offered && !pcap) {
        std::fprintf(stderr,
                     "ingressd: dpdk port %s (%s): hardware receive timestamps are not available "
                     "(no RTE_ETH_RX_OFFLOAD_TIMESTAMP): SO_TIMESTAMPING gives software stamps\n",
                     opt_.name.c_str(), driver_.c_str());
        return;
    }
    if (int r = rte_mbuf_dyn_rx_timestamp_register(&ts_off_, &ts_flag_); r != 0)
        throw std::runtime_error("the port: rte_mbuf_dyn_rx_timestamp_register: " +
                                 dpdk_error(rte_errno));
    if (offered) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
    // rte_mbuf_timestamp_t's unit is the driver's: net_pcap's is the capture record's time
    // in microseconds (eth_pcap_rx); the NICs' (mlx5, ice, ...) nanoseconds of their clock.
    ts_scale_ = pcap ? 1000 : 1;
}

void DpdkBackend::close() noexcept {
    for (uint16_t* port : {&tap_, &port_}) {
        if (*port == UINT16_MAX) continue;
        rte_eth_dev_stop(*port);
        rte_eth_dev_close(*port);
        *port = UINT16_MAX;
    }
    for (std::string* vdev : {&tap_vdev_, &port_vdev_}) {
        if (!vdev->empty()) rte_eal_hotplug_remove("vdev", vdev->c_str());
        vdev->clear();
    }
    if (pool_) rte_mempool_free(pool_);
    pool_ = nullptr;
    queues_.clear();
}

void DpdkBackend::to_kernel(Queue& Q, rte_mbuf** m, uint16_t n,
                            core::Counter QueueStats::*accepted) noexcept {
    // Without a TAP the frames are released: the kernel never sees them (the pipeline does
    // not pass frames then, can_pass(); steered ones are counted as accepted).
    const uint16_t sent = tap_ == UINT16_MAX ? n : rte_eth_tx_burst(tap_, Q.id, m, n);
    if (tap_ == UINT16_MAX)
        rte_pktmbuf_free_bulk(m, n);
    else if (sent < n)
        rte_pktmbuf_free_bulk(m + sent, n - sent);
    (Q.st.*accepted).add(sent);
    Q.st.pass_dropped.add(n - sent);
}

uint16_t DpdkBackend::rx_burst(uint16_t queue, core::Packet* pkts, uint16_t max) noexcept {
    if (queue >= queues_.size()) return 0;
    Queue& Q = *queues_[queue];
    if (tap_ != UINT16_MAX && ++Q.polls >= opt_.exception_poll) {
        Q.polls = 0;
        service_exception(Q);
    }
    rte_mbuf* m[core::kBurst];
    rte_mbuf* kernel[core::kBurst];
    uint16_t nkernel = 0;
    const bool steer = tap_ != UINT16_MAX && !capture_all_.load(std::memory_order_relaxed);
    const bool copy = steer && tap_copy_.load(std::memory_order_relaxed);
    const uint16_t got = rte_eth_rx_burst(port_, queue, m, std::min(max, core::kBurst));
    const uint64_t now = got ? rx_clock_ns() : 0;
    uint16_t k = 0;
    for (uint16_t i = 0; i < got; ++i) {
        rte_mbuf* mb = m[i];
        if (mb->nb_segs != 1) {  // a chain cannot be viewed as one contiguous frame
            rte_pktmbuf_free(mb);
            Q.st.rx_oversize.add();
            continue;
        }
        core::Packet& p = pkts[k];
        init_packet(p, first_byte(mb), mb->data_len, reinterpret_cast<uintptr_t>(mb), queue,
                    ifindex_, now);
        // The hardware stamp, into the headroom right before the frame (core::kFlagHwTstamp).
        if ((mb->ol_flags & ts_flag_) && rte_pktmbuf_headroom(mb) >= sizeof(uint64_t))
            [[unlikely]] {
            const uint64_t ns =
                *RTE_MBUF_DYNFIELD(mb, ts_off_, const rte_mbuf_timestamp_t*) * ts_scale_;
            std::memcpy(p.data - sizeof ns, &ns, sizeof ns);
            p.flags = core::kFlagHwTstamp;
        }
        // Steering leaves its parse in `p` (kFlagL2Parsed) for eth_type_trans to reuse.
        if (steer && !steer_to_dataplane(p, dsts_, protocols_)) {
            // The taps' copy (the kernel gets the frame itself).
            if (copy && !Q.copies.try_push(p.data, p.len)) Q.st.tap_lost.add();
            kernel[nkernel++] = mb;
            continue;
        }
        ++k;
    }
    if (nkernel) to_kernel(Q, kernel, nkernel, &QueueStats::steered);
    Q.st.rx.add(k);
    return k;
}

void DpdkBackend::service_exception(Queue& Q) noexcept {
    rte_mbuf* m[core::kBurst];
    const uint16_t n = rte_eth_rx_burst(tap_, Q.id, m, core::kBurst);
    if (!n) return;
    const uint16_t sent = rte_eth_tx_burst(port_, Q.id, m, n);
    if (sent < n) rte_pktmbuf_free_bulk(m + sent, n - sent);
    Q.st.from_kernel.add(sent);
    Q.st.from_kernel_dropped.add(n - sent);
}

void DpdkBackend::attach_thread(uint16_t queue) noexcept {
    t_queue = queue;
    if (queue >= queues_.size()) return;
    // The interrupts go into this thread's epoll instance (RTE_EPOLL_PER_THREAD): the worker
    // waits on them in wait_rx().
    Queue& Q = *queues_[queue];
    Q.intr = port_intr_ && rte_eth_dev_rx_intr_ctl_q(port_, queue, RTE_EPOLL_PER_THREAD,
                                                     RTE_INTR_EVENT_ADD, nullptr) == 0;
    Q.tap_intr = Q.intr && tap_intr_ &&
                 rte_eth_dev_rx_intr_ctl_q(tap_, queue, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_ADD,
                                           nullptr) == 0;
    // No port interrupt: the micro-sleep waits on the TAP's queue fd (net_tap's interrupt is
    // always on: readable while a frame waits; one that must be armed is not used here).
    Q.tap_fd =
        !Q.intr && tap_intr_ && !tap_arm_ ? rte_eth_dev_rx_intr_ctl_q_get_fd(tap_, queue) : -1;
}

void DpdkBackend::micro_sleep(uint16_t queue, uint64_t ns) noexcept {
    const timespec ts{.tv_sec = static_cast<time_t>(ns / 1'000'000'000),
                      .tv_nsec = static_cast<long>(ns % 1'000'000'000)};
    Queue* Q = queue < queues_.size() && t_queue == queue ? queues_[queue].get() : nullptr;
    if (!Q || Q->tap_fd < 0) {
        nanosleep(&ts, nullptr);
        return;
    }
    pollfd p{.fd = Q->tap_fd, .events = POLLIN, .revents = 0};
    if (ppoll(&p, 1, &ts, nullptr) > 0) service_exception(*Q);
}

bool DpdkBackend::wait_rx(uint16_t queue, uint64_t timeout_ns) noexcept {
    if (queue >= queues_.size()) return false;
    Queue& Q = *queues_[queue];
    // The kernel's frames waiting in the TAP go out before the worker sleeps (in micro_sleep
    // when it waits on the TAP's fd).
    if (tap_ != UINT16_MAX && (Q.tap_fd < 0 || t_queue != queue)) service_exception(Q);
    if (!Q.intr || t_queue != queue) return false;
    if (port_arm_ && rte_eth_dev_rx_intr_enable(port_, queue) != 0) return false;
    const bool tap = Q.tap_intr && (!tap_arm_ || rte_eth_dev_rx_intr_enable(tap_, queue) == 0);
    // A frame that came after the last poll and before the enable may raise no interrupt:
    // look once more where the PMD can say.
    if (rte_eth_rx_queue_count(port_, queue) <= 0) {
        rte_epoll_event ev[2];
        const int ms = static_cast<int>(std::max<uint64_t>(1, timeout_ns / 1'000'000));
        rte_epoll_wait(RTE_EPOLL_PER_THREAD, ev, 2, ms);
    }
    if (port_arm_) rte_eth_dev_rx_intr_disable(port_, queue);
    if (tap) {
        if (tap_arm_) rte_eth_dev_rx_intr_disable(tap_, queue);
        service_exception(Q);
    }
    return true;
}

DpdkBackend::Queue* DpdkBackend::own_queue(uint16_t fallback) const noexcept {
    const std::size_t q = t_queue >= 0 ? static_cast<std::size_t>(t_queue) : fallback;
    return q < queues_.size() ? queues_[q].get() : nullptr;
}

uint16_t DpdkBackend::tx_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept {
    Queue* Q = own_queue(n ? pkts[0].queue : queue);
    if (!Q) return 0;
    rte_mbuf* m[core::kBurst];
    n = std::min(n, core::kBurst);
    for (uint16_t i = 0; i < n; ++i) m[i] = to_mbuf(pkts[i]);
    const uint16_t sent = rte_eth_tx_burst(port_, Q->id, m, n);
    Q->st.tx.add(sent);
    return sent;
}

void DpdkBackend::pass_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept {
    Queue* own = own_queue(n ? pkts[0].queue : queue);
    Queue& Q = own ? *own : *queues_[0];
    rte_mbuf* m[core::kBurst];
    for (uint16_t done = 0; done < n;) {
        const uint16_t k = std::min<uint16_t>(n - done, core::kBurst);
        for (uint16_t i = 0; i < k; ++i) m[i] = to_mbuf(pkts[done + i]);
        to_kernel(Q, m, k, &QueueStats::passed);
        done = static_cast<uint16_t>(done + k);
    }
}

void DpdkBackend::free_bulk(const uint64_t* bufs, uint16_t n) noexcept {
    rte_mbuf* m[core::kBurst];
    for (uint16_t done = 0; done < n;) {
        const uint16_t k = std::min<uint16_t>(n - done, core::kBurst);
        for (uint16_t i = 0; i < k; ++i) m[i] = mbuf_of(bufs[done + i]);
        rte_pktmbuf_free_bulk(m, k);
        done = static_cast<uint16_t>(done + k);
    }
    freed_.fetch_add(n, std::memory_order_relaxed);
}

bool DpdkBackend::try_alloc(core::Packet& pkt, uint32_t len) noexcept {
    // One mempool for every queue: the buffer suits whichever queue sends it.
    const uint16_t queue = pkt.queue;
    Queue* Q = own_queue(queue);
    if (!Q) return false;
    rte_mbuf* mb = rte_pktmbuf_alloc(pool_);
    if (!mb || len > rte_pktmbuf_tailroom(mb)) {
        if (mb) rte_pktmbuf_free(mb);
        Q->st.alloc_fail.add();
        return false;
    }
    mb->data_len = static_cast<uint16_t>(len);
    mb->pkt_len = len;
    init_packet(pkt, first_byte(mb), len, reinterpret_cast<uintptr_t>(mb), queue, ifindex_, 0);
    return true;
}

BackendStats DpdkBackend::stats() const noexcept {
    BackendStats s;
    for (const auto& Q : queues_) Q->st.add_to(s);
    s.freed = freed_.load(std::memory_order_relaxed);
    // What never reached rx_burst: the device's ring was full (imissed), or it refused the
    // frame (ierrors); rx_nombuf is the mempool running dry under the device.
    rte_eth_stats es{};
    if (port_ != UINT16_MAX && rte_eth_stats_get(port_, &es) == 0) {
        s.rx_missed = es.imissed + es.ierrors;
        s.alloc_fail += es.rx_nombuf;
    }
    return s;
}

std::vector<core::CounterGroup> DpdkBackend::counter_groups() const {
    std::vector<core::CounterGroup> out = Backend::counter_groups();
    // struct rte_eth_stats, field for field (the port's totals; per-queue arrays left out).
    rte_eth_stats es{};
    if (port_ == UINT16_MAX || rte_eth_stats_get(port_, &es) != 0) return out;
    out.push_back(
        {.device = {},
         .backend = name(),
         .source = "rte_eth_stats",
         .queue = -1,
         .counters = {
             {"ipackets", "frames the port received", es.ipackets},
             {"opackets", "frames the port sent", es.opackets},
             {"ibytes", "bytes the port received", es.ibytes},
             {"obytes", "bytes the port sent", es.obytes},
             {"imissed", "frames the port dropped because its RX queues were full", es.imissed},
             {"ierrors", "erroneous frames the port received", es.ierrors},
             {"oerrors", "frames the port failed to send", es.oerrors},
             {"rx_nombuf", "RX mbuf allocation failures (the mempool ran dry)", es.rx_nombuf},
         }});
    return out;
}

std::string DpdkBackend::describe() const {
    return "dpdk port " + std::to_string(port_) + " (" + driver_ + "), " +
           std::to_string(opt_.queues) + " queue(s), RSS " +
           (opt_.queues == 1 ? std::string("off (one queue)")
            : rss_hf_
                ? rss_names(rss_hf_)
                : std::string("none offered by the driver (a vdev: its kernel side spreads)")) +
           ", exception " + (opt_.exception.empty() ? std::string("none") : opt_.exception) +
           (ts_flag_ ? ", hardware rx timestamps" : "");
}

}  // namespace ingress::io::dpdk
