#pragma once

namespace qatwb {

// LibTorch and OpenBLAS (OpenMP build) run every GEMM and most elementwise ops as OpenMP
// parallel regions, and libgomp reads OMP_WAIT_POLICY once, when it is loaded. Measured with
// `qatwb run projects/tiny-brown/pretrain.yaml` on 2 cores (tokens/s, median of 10 steps):
//   idle machine:            active 1808, passive 1633 (-10%), spin-count 300k 1676
//   one other busy process:  active  507, passive 1046 (2.1x better), spin-count 300k 491
// Spinning threads that wait for a descheduled partner cost 2x and more once anything else
// runs; bounding GOMP_SPINCOUNT does not help. So the policy is chosen from the machine's state
// at start: `active` when no other thread is runnable (sampled from /proc/stat's procs_running
// over 0.1 s), `passive` otherwise. The user's OMP_WAIT_POLICY always wins. The choice and its
// reason ("active (machine idle at start)" etc.) are left in QATWB_OMP_POLICY, which the
// program's edge reads for the run log (app/environment.h).
// Call first thing in main(); re-executes the program with the variable set (returns only when
// no re-exec was needed or it failed).
//
// The one place outside main()'s own files that reads the environment, and on purpose: it is a
// part of process start-up, called first thing in main() (qatwb and the benches) before any
// thread or any configuration exists, and the environment is its only channel, both ways: libgomp
// reads OMP_WAIT_POLICY from it when it is loaded, and the re-executed image learns from it
// that the choice was made (QATWB_OMP_POLICY_PID).
void ensure_openmp_wait_policy(char** argv);

}  // namespace qatwb
