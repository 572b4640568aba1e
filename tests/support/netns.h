// Test network namespaces: two namespaces joined by a veth pair, with names unique to this
// process, removed on destruction. Test traffic stays on this pair (198.18.0.0/15 only).
#pragma once

#include <sched.h>

#include <cstdint>
#include <string>
#include <vector>

#include "wire/ethernet.h"

namespace ingress::test {

// Runs a shell command; returns its exit status.
int sh(const std::string& cmd);

class VethPair {
public:
    // Creates namespaces "<tag>-a-PID" / "<tag>-b-PID" and veth "<tag>aPID" / "<tag>bPID"
    // (truncated to IFNAMSIZ), both ends up, `rx_queues` RX queues on each end. Throws
    // std::runtime_error with the failing command.
    explicit VethPair(const std::string& tag, unsigned rx_queues = 1);
    ~VethPair();
    VethPair(const VethPair&) = delete;
    VethPair& operator=(const VethPair&) = delete;

    const std::string& ns_a() const { return ns_a_; }
    const std::string& ns_b() const { return ns_b_; }
    const std::string& if_a() const { return if_a_; }
    const std::string& if_b() const { return if_b_; }
    wire::Mac mac_a() const { return mac_a_; }
    wire::Mac mac_b() const { return mac_b_; }

    // Moves the calling process (all threads must not exist yet) into namespace a or b.
    void enter_a() const;
    void enter_b() const;
    // Back to the namespace the process started in.
    void leave() const;

private:
    void enter(const std::string& ns) const;
    std::string ns_a_, ns_b_, if_a_, if_b_;
    wire::Mac mac_a_, mac_b_;
    int home_fd_ = -1;
};

// Sends raw Ethernet frames out of `ifname` in the current namespace (AF_PACKET, SOCK_RAW).
// Returns how many were sent.
int send_frames(const std::string& ifname, const std::vector<std::vector<uint8_t>>& frames);

}  // namespace ingress::test
