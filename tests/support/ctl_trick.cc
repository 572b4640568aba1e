// The privilege tricks a hostile local user plays on the control socket (issue 24, item 2),
// for tests/check-ctl-privilege.sh. Each mode sends the four privileged requests (open-raw,
// open-tap, open-udp on port 80, reload) and prints one line per request:
// "<request> granted" or "<request> refused: <errno> <message>". The exit status is the number
// granted.
//
//   exec-setuid SOCKET PROG [ARG...]  run as an unprivileged user: connect, fork, and exec
//       PROG (a setuid-root program) in the connecting process; the forked child, still
//       unprivileged, sends the requests on the inherited connection once the connecting pid
//       runs as root. A daemon that reads /proc/<connecting pid> grants them.
//   inherit SOCKET  run as root: connect and make the proof sockets (ctl/cap_proof.h), fork;
//       the child gives up root and sends the requests on the inherited connection with the
//       parent's proofs. A daemon that judges the connecting pid grants them.
//   self SOCKET  sends the requests as this process, with the proofs it can make.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "ctl/cap_proof.h"
#include "ctl/protocol.h"
#include "ctl/unix_socket.h"

namespace ctl = ingress::ctl;

namespace {

struct Request {
    const char* name;
    std::vector<uint8_t> bytes;
    int cap;
    uint16_t port;
};

std::vector<Request> requests() {
    return {
        {"open-raw", ctl::encode(1, ctl::RawOpen{.protocol = 17}), ctl::kCapNetRaw, 0},
        {"open-tap", ctl::encode(2, ctl::TapOpen{}), ctl::kCapNetRaw, 0},
        {"open-udp-80", ctl::encode(3, ctl::UdpOpen{.port = 80}), ctl::kCapNetBindService, 80},
        {"reload", ctl::Builder(ctl::MsgType::kReload, 4).finish(), ctl::kCapNetAdmin, 0},
    };
}

// Reads one reply from `fd` (any fds that came with it are closed).
std::optional<ctl::Message> reply(int fd, std::vector<uint8_t>& in) {
    for (;;) {
        auto need = ctl::message_size(in);
        if (need && in.size() >= *need) {
            std::vector<uint8_t> msg(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(*need));
            in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(*need));
            static std::vector<uint8_t> keep;
            keep = std::move(msg);
            return ctl::parse(keep).msg;
        }
        uint8_t buf[16384];
        std::vector<int> fds;
        ssize_t n = ctl::recv_with_fds(fd, buf, sizeof buf, &fds);
        for (int f : fds) close(f);
        if (n <= 0) return std::nullopt;
        in.insert(in.end(), buf, buf + n);
    }
}

// Sends every request with its proof (proofs[i] >= 0), prints the outcomes; returns how many
// were granted.
int send_all(int fd, const std::vector<int>& proofs) {
    std::vector<uint8_t> in;
    int granted = 0;
    std::vector<Request> rs = requests();
    for (std::size_t i = 0; i < rs.size(); ++i) {
        std::vector<uint8_t> req = rs[i].bytes;
        std::vector<int> pass;
        if (proofs[i] >= 0) {
            req = ctl::Builder(std::move(req)).u8(ctl::Attr::kProof, rs[i].cap).finish();
            pass.push_back(proofs[i]);
        }
        if (ctl::send_with_fds(fd, req, pass, true) != 0) {
            std::printf("%s: send failed\n", rs[i].name);
            continue;
        }
        auto m = reply(fd, in);
        const uint32_t err = m ? m->u32(ctl::Attr::kError).value_or(EPROTO) : ECONNRESET;
        if (err == 0) {
            ++granted;
            std::printf("%s granted\n", rs[i].name);
        } else {
            std::printf("%s refused: %s %s\n", rs[i].name, std::strerror(static_cast<int>(err)),
                        m ? std::string(m->str(ctl::Attr::kMessage).value_or("")).c_str() : "");
        }
    }
    std::fflush(stdout);
    return granted;
}

std::vector<int> make_proofs() {
    std::vector<int> out;
    for (const Request& r : requests()) out.push_back(ctl::make_proof(r.cap, r.port));
    return out;
}

// The effective uid in /proc/PID/status ("Uid: real effective saved fs"); -1 if gone.
long euid_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("Uid:", 0) == 0) {
            long r = -1, e = -1;
            std::sscanf(line.c_str() + 4, "%ld %ld", &r, &e);
            return e;
        }
    return -1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: ctl-trick exec-setuid|inherit|self SOCKET [PROG ARG...]\n");
        return 100;
    }
    const std::string mode = argv[1];
    const int fd = ctl::connect_unix(argv[2]);
    if (mode == "self") return send_all(fd, make_proofs());
    if (mode == "inherit") {
        std::vector<int> proofs = make_proofs();
        pid_t child = fork();
        if (child == 0) {
            if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(101);
            _exit(send_all(fd, proofs));
        }
        int st = 0;
        waitpid(child, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 102;
    }
    if (mode == "exec-setuid" && argc >= 4) {
        const pid_t connector = getpid();
        const long before = euid_of(connector);
        pid_t child = fork();
        if (child == 0) {
            // Wait until the connecting process runs the setuid program (its euid changed).
            for (int i = 0; i < 500 && euid_of(connector) == before; ++i) usleep(10000);
            if (euid_of(connector) == before) _exit(103);
            std::printf("connecting pid %d now has euid %ld\n", connector, euid_of(connector));
            const int granted = send_all(fd, std::vector<int>(requests().size(), -1));
            kill(connector, SIGTERM);  // allowed: its real uid is still ours
            _exit(granted);
        }
        // The connecting process becomes the setuid program; the connection stays open in
        // the child (and here, without FD_CLOEXEC, as a setuid program inherits stdin).
        const int flags = fcntl(fd, F_GETFD);
        fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
        execv(argv[3], argv + 3);
        std::perror("execv");
        return 104;
    }
    std::fprintf(stderr, "ctl-trick: unknown mode %s\n", mode.c_str());
    return 100;
}
