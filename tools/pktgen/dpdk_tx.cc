#include "dpdk_tx.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "pktgen/eal_args.h"
#include "pktgen/traffic.h"

namespace ingress::pktgen {
namespace {

constexpr uint16_t kTxDesc = 1024;
constexpr uint16_t kRxDesc = 512;
constexpr unsigned kPmdMbufsPerQueue = 4096;

[[noreturn]] void fail(const std::string& what, int err) {
    throw std::runtime_error("dpdk: " + what + ": " + rte_strerror(err < 0 ? -err : err));
}

class DpdkQueue final : public QueueSender {
public:
    DpdkQueue(uint16_t port, uint16_t queue, rte_mempool* pool,
              const std::vector<std::vector<uint8_t>>& templates, bool stamp)
        : port_(port), queue_(queue), pool_(pool) {
        for (const auto& t : templates) {
            rte_mbuf* m = rte_pktmbuf_alloc(pool);
            if (!m) throw std::runtime_error("dpdk: out of mbufs for the templates");
            if (t.size() > rte_pktmbuf_tailroom(m)) {
                rte_pktmbuf_free(m);
                throw std::runtime_error("dpdk: a template is longer than the pool's mbufs");
            }
            std::copy(t.begin(), t.end(), rte_pktmbuf_mtod(m, uint8_t*));
            m->data_len = static_cast<uint16_t>(t.size());
            m->pkt_len = static_cast<uint32_t>(t.size());
            tpl_.push_back(m);
            len_.push_back(static_cast<uint32_t>(t.size()));
            if (!stamp) continue;
            auto at = gen::stamp_spot(t);
            if (!at)
                throw std::runtime_error(
                    "--stamp: plain UDP frames only (no fragments, 8 payload bytes at least)");
            spots_.push_back(*at);
        }
    }
    ~DpdkQueue() override {
        for (rte_mbuf* m : tpl_) rte_pktmbuf_free(m);
    }

    uint32_t send(uint32_t n) noexcept override {
        rte_mbuf* burst[Load::kMaxBurst];
        n = std::min<uint32_t>(n, Load::kMaxBurst);
        if (!spots_.empty()) return send_stamped(burst, n);
        const auto count = static_cast<uint32_t>(tpl_.size());
        for (uint32_t i = 0, t = next_; i < n; ++i) {
            burst[i] = tpl_[t];
            t = t + 1 == count ? 0 : t + 1;
        }
        // The PMD frees what it sent: our references keep the templates alive. One atomic
        // update per template per burst, not one per frame (with one template, a burst of
        // 256 is one update here and the PMD's 256 decrements).
        add_refs(next_, n, 1);
        uint16_t sent = rte_eth_tx_burst(port_, queue_, burst, static_cast<uint16_t>(n));
        const uint32_t after = (next_ + sent) % count;
        if (sent < n) add_refs(after, n - sent, -1);
        bytes_ += span_bytes(next_, sent);
        next_ = after;
        return sent;
    }
    void drain() noexcept override {
        // Give the PMD back every mbuf it still holds: then all of them left the queue.
        for (int i = 0; i < 100 && rte_eth_tx_done_cleanup(port_, queue_, 0) > 0; ++i) {
        }
    }
    uint64_t sent_bytes() const noexcept override { return bytes_; }

private:
    // --stamp: each frame a copy of its template in a fresh mbuf, with the send time
    // (CLOCK_REALTIME ns, one clock read per burst: the burst leaves in one call) in its
    // payload and its UDP checksum updated: a copy of the frame per frame (some 50 ns for a
    // 64-byte one) and an mbuf from the pool, where the plain path copies nothing.
    uint32_t send_stamped(rte_mbuf** burst, uint32_t n) noexcept {
        if (rte_pktmbuf_alloc_bulk(pool_, burst, n) != 0) return 0;
        timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        const uint64_t ns =
            static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
        const auto count = static_cast<uint32_t>(tpl_.size());
        for (uint32_t i = 0, t = next_; i < n; ++i) {
            uint8_t* d = rte_pktmbuf_mtod(burst[i], uint8_t*);
            std::memcpy(d, rte_pktmbuf_mtod(tpl_[t], const uint8_t*), len_[t]);
            burst[i]->data_len = static_cast<uint16_t>(len_[t]);
            burst[i]->pkt_len = len_[t];
            gen::write_stamp(d, spots_[t], ns);
            t = t + 1 == count ? 0 : t + 1;
        }
        const uint16_t sent = rte_eth_tx_burst(port_, queue_, burst, static_cast<uint16_t>(n));
        if (sent < n) rte_pktmbuf_free_bulk(burst + sent, n - sent);
        bytes_ += span_bytes(next_, sent);
        next_ = (next_ + sent) % count;
        return sent;
    }

    // The n frames from template `first` on, round robin, use template (first + k) % size
    // n / size times, plus once more for the first n % size of them.
    template <typename F>
    void each_use(uint32_t first, uint32_t n, F&& f) const noexcept {
        const auto count = static_cast<uint32_t>(tpl_.size());
        const uint32_t full = n / count, rest = n % count;
        for (uint32_t k = 0, t = first; k < std::min(n, count); ++k) {
            f(t, full + (k < rest ? 1 : 0));
            t = t + 1 == count ? 0 : t + 1;
        }
    }
    void add_refs(uint32_t first, uint32_t n, int sign) noexcept {
        each_use(first, n, [&](uint32_t t, uint32_t uses) {
            rte_mbuf_refcnt_update(tpl_[t], static_cast<int16_t>(sign * static_cast<int>(uses)));
        });
    }
    uint64_t span_bytes(uint32_t first, uint32_t n) const noexcept {
        uint64_t b = 0;
        each_use(first, n, [&](uint32_t t, uint32_t uses) { b += uint64_t{uses} * len_[t]; });
        return b;
    }

    uint16_t port_, queue_;
    rte_mempool* pool_;
    std::vector<gen::StampSpot> spots_;  // --stamp: each template's (empty: no stamps)
    std::vector<rte_mbuf*> tpl_;
    std::vector<uint32_t> len_;  // the templates' lengths, without FCS
    uint32_t next_ = 0;
    uint64_t bytes_ = 0;
};

}  // namespace

DpdkPort::DpdkPort(const std::string& eal_args, int port, unsigned queues,
                   const std::vector<std::vector<uint8_t>>& templates) {
    auto args = gen::split_eal_args("ingress-pktgen", eal_args);
    if (!args) throw std::runtime_error("--dpdk: unterminated quote in '" + eal_args + "'");
    // Our own runtime directory unless told otherwise: two DPDK processes with the default
    // prefix refuse to run side by side (the second finds the first's lock).
    const bool own_prefix = std::none_of(args->begin(), args->end(), [](const std::string& a) {
        return a.starts_with("--file-prefix") || a == "--in-memory";
    });
    if (own_prefix) {
        args->push_back("--file-prefix");
        args->push_back("ingress-pktgen-" + std::to_string(getpid()));
    }
    std::vector<char*> argv;
    for (auto& a : *args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(args->size()), argv.data()) < 0)
        fail("rte_eal_init(\"" + eal_args + "\")", rte_errno);
    if (own_prefix) runtime_dir_ = rte_eal_get_runtime_dir();
    if (rte_eth_dev_count_avail() == 0)
        throw std::runtime_error(
            "dpdk: no port; give one with --vdev (e.g. net_af_xdp0,iface=IF) or bind a NIC");
    if (port < 0) {
        port_ = static_cast<uint16_t>(rte_eth_find_next_owned_by(0, RTE_ETH_DEV_NO_OWNER));
    } else {
        port_ = static_cast<uint16_t>(port);
        if (!rte_eth_dev_is_valid_port(port_))
            throw std::runtime_error("dpdk: no port " + std::to_string(port));
    }
    std::size_t longest = 0;
    for (const auto& t : templates) longest = std::max(longest, t.size());
    // Templates per queue (twice: a new set may be built while the old one is still being
    // freed), and what the PMD keeps from the same pool per queue: net_af_xdp fills its XSK's
    // whole fill ring (2048) beside the RX descriptors.
    unsigned mbufs =
        static_cast<unsigned>(2 * templates.size() * queues + kPmdMbufsPerQueue * queues + 1024);
    auto* pool =
        rte_pktmbuf_pool_create("pktgen", mbufs, 0, 0,
                                static_cast<uint16_t>(std::max<std::size_t>(
                                    RTE_MBUF_DEFAULT_BUF_SIZE, longest + RTE_PKTMBUF_HEADROOM)),
                                static_cast<int>(rte_socket_id()));
    if (!pool) fail("rte_pktmbuf_pool_create", rte_errno);
    pool_ = pool;
    rte_eth_conf conf{};
    int rc = rte_eth_dev_configure(port_, static_cast<uint16_t>(queues),
                                   static_cast<uint16_t>(queues), &conf);
    if (rc < 0)
        fail("configuring port " + name() + " with " + std::to_string(queues) + " queue(s)", rc);
    int socket = rte_eth_dev_socket_id(port_);
    for (uint16_t q = 0; q < queues; ++q) {
        if ((rc = rte_eth_tx_queue_setup(port_, q, kTxDesc, socket, nullptr)) < 0)
            fail("TX queue " + std::to_string(q) + " of " + name(), rc);
        if ((rc = rte_eth_rx_queue_setup(port_, q, kRxDesc, socket, nullptr, pool)) < 0)
            fail("RX queue " + std::to_string(q) + " of " + name(), rc);
    }
    if ((rc = rte_eth_dev_start(port_)) < 0) fail("starting " + name(), rc);
    // A memif client connects to its server after the start, asynchronously: frames offered
    // before the link is up are refused (or dropped by other PMDs). Wait up to 5 s for it,
    // so a run's rate starts with the link; a PMD that never reports a link goes on anyway.
    for (int i = 0; i < 500; ++i) {
        rte_eth_link link{};
        if (rte_eth_link_get_nowait(port_, &link) == 0 && link.link_status) break;
        rte_delay_us_sleep(10'000);
    }
}

DpdkPort::~DpdkPort() {
    rte_eth_dev_stop(port_);
    rte_eth_dev_close(port_);
    rte_eal_cleanup();
    // The directory of the prefix we made up is ours alone; leave no trace of each run.
    std::error_code ec;
    if (!runtime_dir_.empty()) std::filesystem::remove_all(runtime_dir_, ec);
}

std::unique_ptr<QueueSender> DpdkPort::open(uint16_t q,
                                            const std::vector<std::vector<uint8_t>>& templates,
                                            bool stamp) {
    return std::make_unique<DpdkQueue>(port_, q, static_cast<rte_mempool*>(pool_), templates,
                                       stamp);
}

std::string DpdkPort::name() const {
    char n[RTE_ETH_NAME_MAX_LEN] = "";
    rte_eth_dev_get_name_by_port(port_, n);
    return n;
}

}  // namespace ingress::pktgen
