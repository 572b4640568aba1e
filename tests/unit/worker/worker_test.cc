// The worker loop's idle modes (poll_mode) over the memory backend, which has no wakeup
// event: adaptive and interrupt workers sleep in the bounded micro-sleep when idle, and
// still deliver every frame and run the reassembly timers of an idle queue on time (the
// kernel's ip_expire runs from a timer, whatever the traffic).
#include "worker/worker.h"

#include <gtest/gtest.h>

#include "demux/udp.h"
#include "support/demux.h"

namespace ingress::worker {
namespace {

using demux::UdpEndpoint;
using test::kLocal;
using test::udp_to;

constexpr uint64_t kIpLen = 20 + 8 + 18;

// A worker over a DemuxHarness's backend, tables and fake clock, stepped on this thread (an
// RCU reader for the test's duration, as a worker thread is).
struct WorkerRig {
    explicit WorkerRig(PollMode mode, IdleTimes idle = {}) {
        // The app reads nothing here: a budget (SO_RCVBUF) the 1024 slots fill before.
        ep.bind(0, 5000).set_rcvbuf(demux::so_rcvbuf(1u << 20, 1u << 20));
        h.builder.add(ep);
        h.publish();
        PipelineTables t{.port = &h.port, .routes = &h.routes, .endpoints = h.endpoints};
        worker = std::make_unique<Worker>(h.backend, h.counters, t, h.clock,
                                          WorkerOptions{.poll_mode = mode, .idle = idle});
        ipv4::rcu_reader_register();
    }
    ~WorkerRig() { ipv4::rcu_reader_unregister(); }
    // Steps until `frames` have been received or `max_steps` have passed; returns frames.
    uint64_t step_until(uint64_t frames, int max_steps = 1000) {
        uint64_t got = 0;
        for (int i = 0; i < max_steps && got < frames; ++i) got += worker->step();
        return got;
    }

    test::DemuxHarness h;
    UdpEndpoint ep{test::rings(1024)};
    std::unique_ptr<Worker> worker;
};

class WorkerIdle : public ::testing::TestWithParam<PollMode> {};
INSTANTIATE_TEST_SUITE_P(Modes, WorkerIdle,
                         ::testing::Values(PollMode::kBusy, PollMode::kAdaptive,
                                           PollMode::kInterrupt),
                         [](const auto& info) {
                             switch (info.param) {
                                 case PollMode::kBusy:
                                     return "busy";
                                 case PollMode::kAdaptive:
                                     return "adaptive";
                                 default:
                                     return "interrupt";
                             }
                         });

// Frames that arrive after the worker went idle are all delivered; only busy never sleeps.
TEST_P(WorkerIdle, EveryFrameIsDeliveredAcrossIdleSleeps) {
    WorkerRig r(GetParam());
    uint64_t total = 0;
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 100; ++i) ASSERT_TRUE(r.h.backend.inject(udp_to(kLocal, 5000).build()));
        total += 100;
        EXPECT_EQ(r.step_until(100), 100u);
        // Idle: past the adaptive spin (the fake clock moves only when told).
        r.h.clock.advance_ns(IdleTimes{}.spin_ns);
        for (int i = 0; i < 3; ++i) EXPECT_EQ(r.worker->step(), 0u);
    }
    EXPECT_EQ(r.ep.rings().used(), total);
    EXPECT_COUNTERS_EQ(r.h.snap(), test::plus(test::ip_local(total, kIpLen),
                                              {{"delivered", total}, {"UdpInDatagrams", total}}));
    if (GetParam() == PollMode::kBusy)
        EXPECT_EQ(r.worker->runtime().snapshot().sleeps, 0u);
    else
        EXPECT_EQ(r.worker->runtime().snapshot().sleeps, 3u * 3) << "every idle step slept";
}

// The micro-sleep of a backend without wakeups (DPDK without rx interrupts), with the
// default idle times and with an interface's `idle:` ones: it doubles from 10 us to
// backoff_max (1 ms) while frames are recent, not deeper one nanosecond short of deep_idle
// (1 s), and on to deep_backoff_max (5 ms) from there (deep idle: a fifth of the wakeups);
// a frame starts it over at 10 us with the short cap, and every frame is delivered across
// the sleeps.
class WorkerIdleBackoff : public ::testing::TestWithParam<IdleTimes> {};
INSTANTIATE_TEST_SUITE_P(Caps, WorkerIdleBackoff,
                         ::testing::Values(IdleTimes{}, IdleTimes{.backoff_max_ns = 80'000,
                                                                  .deep_idle_ns = 20'000'000,
                                                                  .deep_backoff_max_ns = 320'000}),
                         [](const auto& info) {
                             return info.index == 0 ? "defaults" : "configured";
                         });

TEST_P(WorkerIdleBackoff, GrowsToTheDeepCapOnlyAfterALongIdleSpell) {
    const IdleTimes o = GetParam();
    WorkerRig r(PollMode::kInterrupt, o);
    uint64_t sleeps = 0;
    auto sleep_steps = [&](int n) {
        for (int i = 0; i < n; ++i) EXPECT_EQ(r.worker->step(), 0u);
        sleeps += n;
        return r.worker->micro_sleep_ns();
    };
    // Enough sleeps for the doubling to reach `cap` from where it is, and two more.
    auto to_cap = [](uint64_t from, uint64_t cap) {
        int n = 2;
        for (; from < cap; from *= 2) ++n;
        return n;
    };
    for (int round = 0; round < 2; ++round) {
        ASSERT_TRUE(r.h.backend.inject(udp_to(kLocal, 5000).build()));
        EXPECT_EQ(r.step_until(1), 1u);
        EXPECT_EQ(r.worker->micro_sleep_ns(), 0u) << "a frame starts the backoff over";
        EXPECT_EQ(sleep_steps(1), kBackoffMinNs);
        EXPECT_EQ(sleep_steps(1), 2 * kBackoffMinNs);
        EXPECT_EQ(sleep_steps(to_cap(2 * kBackoffMinNs, o.backoff_max_ns)), o.backoff_max_ns)
            << "the cap while frames are recent";
        r.h.clock.advance_ns(o.deep_idle_ns - 1);
        EXPECT_EQ(sleep_steps(2), o.backoff_max_ns) << "not deep before deep_idle_ns";
        // No frame for deep_idle_ns: the cap grows, one doubling per sleep.
        r.h.clock.advance_ns(1);
        EXPECT_EQ(sleep_steps(1), 2 * o.backoff_max_ns);
        EXPECT_EQ(sleep_steps(to_cap(2 * o.backoff_max_ns, o.deep_backoff_max_ns)),
                  o.deep_backoff_max_ns)
            << "the deep-idle cap";
    }
    EXPECT_EQ(r.ep.rings().used(), 2u);
    EXPECT_COUNTERS_EQ(r.h.snap(), test::plus(test::ip_local(2, kIpLen),
                                              {{"delivered", 2}, {"UdpInDatagrams", 2}}));
    EXPECT_EQ(r.worker->runtime().snapshot().sleeps, sleeps);
}

// adaptive: the worker polls on, without sleeping, until the configured spin has passed
// since the last frame, then sleeps at every idle poll.
TEST(WorkerIdleSpin, AdaptiveSpinsForTheConfiguredSpin) {
    const IdleTimes o{.spin_ns = 200'000};
    WorkerRig r(PollMode::kAdaptive, o);
    ASSERT_TRUE(r.h.backend.inject(udp_to(kLocal, 5000).build()));
    EXPECT_EQ(r.step_until(1), 1u);
    r.h.clock.advance_ns(o.spin_ns - 1);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(r.worker->step(), 0u);
    EXPECT_EQ(r.worker->runtime().snapshot().sleeps, 0u) << "within the spin: polls on";
    EXPECT_EQ(r.worker->micro_sleep_ns(), 0u);
    r.h.clock.advance_ns(1);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(r.worker->step(), 0u);
    EXPECT_EQ(r.worker->runtime().snapshot().sleeps, 3u) << "past the spin: sleeps";
    EXPECT_EQ(r.worker->micro_sleep_ns(), 4 * kBackoffMinNs);
    EXPECT_EQ(r.ep.rings().used(), 1u);
    EXPECT_COUNTERS_EQ(r.h.snap(), test::plus(test::ip_local(1, kIpLen),
                                              {{"delivered", 1}, {"UdpInDatagrams", 1}}));
}

// ip_expire on an idle queue: the first fragment of a datagram whose second never comes is
// dropped after ipfrag_time (30 s) with the kernel's counters and ICMP time exceeded
// (fragment reassembly time exceeded), though no frame arrives to drive the worker.
TEST_P(WorkerIdle, ReassemblyExpiresOnAnIdleQueue) {
    WorkerRig r(GetParam());
    auto frags = udp_to(kLocal, 5000).payload_size(100).build_fragments(64);
    ASSERT_EQ(frags.size(), 2u);
    ASSERT_TRUE(r.h.backend.inject(frags[0]));
    EXPECT_EQ(r.step_until(1), 1u);
    EXPECT_EQ(r.h.snap().held, 1u);
    r.h.clock.advance_ns(30'000'000'000 - 1);
    for (int i = 0; i < 3; ++i) r.worker->step();
    EXPECT_EQ(r.h.snap().held, 1u) << "not before ipfrag_time";
    r.h.clock.advance_ns(WorkerOptions{}.timer_period_ns);
    for (int i = 0; i < 3; ++i) r.worker->step();
    EXPECT_COUNTERS(r.h.snap(), ({{"rx", 1},
                                  {"IpInReceives", 1},
                                  {"IpExtInNoECTPkts", 1},
                                  {"IpExtInOctets", 20 + 64},
                                  {"IpReasmReqds", 1},
                                  {"FRAG_REASM_TIMEOUT", 1},
                                  {"IpReasmFails", 1},
                                  {"IpReasmTimeout", 1},
                                  {"IcmpOutMsgs", 1},
                                  {"IcmpOutTimeExcds", 1},
                                  {"IcmpMsgOutType11", 1}}));
    ASSERT_EQ(r.h.backend.sent().size(), 1u);
    r.h.expect_buffers_conserved();
}

// The runtime profile: every frame the counters say was received entered rx and each stage
// after it (all are delivered: none leaves early); polls split into bursts and empty polls,
// and every stage that ran spent cycles.
TEST(WorkerRuntime, StageFramesAddUpToTheCounters) {
    WorkerRig r(PollMode::kInterrupt);
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(r.h.backend.inject(udp_to(kLocal, 5000).build()));
    EXPECT_EQ(r.step_until(200), 200u);
    for (int i = 0; i < 2; ++i) EXPECT_EQ(r.worker->step(), 0u);
    const RuntimeSnapshot s = r.worker->runtime().snapshot();
    EXPECT_EQ(s.frames, r.h.snap().rx);
    EXPECT_EQ(s.frames, 200u);
    EXPECT_EQ(s.bursts(), 4u) << "64 + 64 + 64 + 8";
    EXPECT_EQ(s.empty_polls, 2u);
    EXPECT_EQ(s.polls, 6u);
    EXPECT_EQ(s.sleeps, 2u);
    for (std::size_t i = 0; i < kStageCount; ++i) {
        SCOPED_TRACE(stage_name(static_cast<Stage>(i)));
        EXPECT_EQ(s.stage_frames[i], 200u);
        EXPECT_EQ(s.stage_calls[i], 4u);
        EXPECT_GT(s.stage_cycles[i], 0u);
    }
    EXPECT_GT(s.busy_cycles, 0u);
    EXPECT_GT(s.idle_cycles, 0u) << "the empty polls and the sleeps";
    EXPECT_GT(s.idle_share(), 0.0);
    EXPECT_LT(s.idle_share(), 1.0);
    // An idle timer tick runs the timers alone: no other stage is charged.
    r.h.clock.advance_ns(WorkerOptions{}.timer_period_ns);
    EXPECT_EQ(r.worker->step(), 0u);
    const RuntimeSnapshot t = r.worker->runtime().snapshot();
    EXPECT_EQ(t.stage_calls[static_cast<std::size_t>(Stage::kTimers)], 5u);
    EXPECT_EQ(t.stage_calls[static_cast<std::size_t>(Stage::kDemux)], 4u);
    EXPECT_EQ(t.stage_frames, s.stage_frames);
}

TEST(WorkerRuntime, ProfileOffStampsNothingButCountsSleeps) {
    test::DemuxHarness h;
    PipelineTables t{.port = &h.port, .routes = &h.routes, .endpoints = h.endpoints};
    h.publish();
    t.endpoints = h.endpoints;
    Worker w(h.backend, h.counters, t, h.clock,
             WorkerOptions{.poll_mode = PollMode::kInterrupt, .profile = false});
    ipv4::rcu_reader_register();
    ASSERT_TRUE(h.backend.inject(udp_to(kLocal, 5000).build()));
    EXPECT_EQ(w.step(), 1u);
    EXPECT_EQ(w.step(), 0u);
    ipv4::rcu_reader_unregister();
    const RuntimeSnapshot s = w.runtime().snapshot();
    EXPECT_EQ(s.polls, 0u);
    EXPECT_EQ(s.busy_cycles, 0u);
    EXPECT_EQ(s.stage_cycles, (std::array<uint64_t, kStageCount>{}));
    EXPECT_EQ(s.sleeps, 1u);
}

// What ingressd's watchdog names for a worker that stopped beating: the part of the loop it
// entered last. A busy worker with nothing to do is in rx; an empty burst whose timer tick
// is due runs the pipeline (the timers); a burst with frames ends in the apps' wakeups; an
// interrupt-mode worker with nothing to do sleeps (idle).
TEST(WorkerRuntime, LoopPhaseIsThePartOfTheLoopEnteredLast) {
    test::DemuxHarness h;
    h.publish();
    PipelineTables t{.port = &h.port, .routes = &h.routes, .endpoints = h.endpoints};
    Worker busy(h.backend, h.counters, t, h.clock,
                WorkerOptions{.poll_mode = PollMode::kBusy, .profile = false});
    ipv4::rcu_reader_register();
    EXPECT_EQ(busy.step(), 0u);  // the first tick is due: the timers run
    EXPECT_EQ(busy.runtime().phase(), LoopPhase::kPipeline);
    EXPECT_EQ(busy.step(), 0u);  // same time: rx_burst only
    EXPECT_EQ(busy.runtime().phase(), LoopPhase::kRx);
    ASSERT_TRUE(h.backend.inject(udp_to(kLocal, 5000).build()));
    struct Seen {
        const Worker* w;
        LoopPhase phase = LoopPhase::kRx;
    } seen{&busy};
    EXPECT_EQ(busy.step(
                  [](void* c) {
                      auto* s = static_cast<Seen*>(c);
                      s->phase = s->w->runtime().phase();
                  },
                  &seen),
              1u);
    EXPECT_EQ(seen.phase, LoopPhase::kWakeups);
    EXPECT_EQ(busy.runtime().phase(), LoopPhase::kWakeups);

    Worker sleepy(h.backend, h.counters, t, h.clock,
                  WorkerOptions{.poll_mode = PollMode::kInterrupt, .profile = false});
    EXPECT_EQ(sleepy.step(), 0u);
    EXPECT_EQ(sleepy.runtime().phase(), LoopPhase::kIdle);
    ipv4::rcu_reader_unregister();
    EXPECT_STREQ(loop_phase_name(LoopPhase::kWakeups), "wakeups");
}

}  // namespace
}  // namespace ingress::worker
