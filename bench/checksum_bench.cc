// The Internet checksum: the 64-bit-accumulation version against the plain RFC 1071 loop on
// the same buffers, side by side in one run. Run: build/bench/bench_checksum
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "wire/checksum.h"

namespace {

std::vector<uint8_t> random_bytes(std::size_t n) {
    std::mt19937 rng(1);
    std::vector<uint8_t> b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    return b;
}

void BM_ChecksumFast(benchmark::State& state) {
    auto b = random_bytes(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) benchmark::DoNotOptimize(ingress::wire::internet_checksum(b));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_ChecksumReference(benchmark::State& state) {
    auto b = random_bytes(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) benchmark::DoNotOptimize(ingress::wire::internet_checksum_reference(b));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

BENCHMARK(BM_ChecksumFast)->Arg(20)->Arg(64)->Arg(1500)->Arg(9000);
BENCHMARK(BM_ChecksumReference)->Arg(20)->Arg(64)->Arg(1500)->Arg(9000);

}  // namespace

BENCHMARK_MAIN();
