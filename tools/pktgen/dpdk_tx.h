// The generator's DPDK way out: EAL brought up from the --dpdk argument string, one port
// (a vdev such as net_af_xdp or net_af_packet, or a bound NIC) with one TX queue per
// generator thread. Each queue owns mbufs holding the templates, built once; sending hands
// the PMD references to the next templates (each template's refcount goes up once per burst
// by its uses in the burst, the PMD's frees bring it back down), so nothing is copied or
// allocated per frame by the generator (except with --stamp: a copy per frame carrying its
// send time). With memif's zero-copy client (`zero-copy=yes`, EAL
// `--single-file-segments`) the server reads the templates themselves.
//
// Self-contained (tools/pktgen only): ingressd's DPDK receive backend lives in src/io/dpdk.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "load.h"

namespace ingress::pktgen {

class DpdkPort {
public:
    // rte_eal_init with `eal_args` (split by gen::split_eal_args; --file-prefix
    // ingress-pktgen-PID is added unless a prefix or --in-memory is given), then configures port
    // `port` (the first one when -1) with `queues` TX queues (and as many RX queues, which
    // some PMDs require; nothing reads them) and starts it. Throws std::runtime_error.
    DpdkPort(const std::string& eal_args, int port, unsigned queues,
             const std::vector<std::vector<uint8_t>>& templates);
    ~DpdkPort();
    DpdkPort(const DpdkPort&) = delete;
    DpdkPort& operator=(const DpdkPort&) = delete;

    // Queue q's sender of `templates` (at most as many and as long as the constructor's);
    // the port must outlive it. `stamp`: each frame is a copy carrying its send time
    // (gen::write_stamp; every template must be plain UDP, else std::runtime_error).
    std::unique_ptr<QueueSender> open(uint16_t q,
                                      const std::vector<std::vector<uint8_t>>& templates,
                                      bool stamp = false);
    std::string name() const;  // the port's device name, e.g. net_af_xdp0

private:
    uint16_t port_ = 0;
    void* pool_ = nullptr;     // rte_mempool*
    std::string runtime_dir_;  // removed at the end when the prefix was ours
};

}  // namespace ingress::pktgen
