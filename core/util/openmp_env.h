#pragma once

namespace qatwb {

// LibTorch and OpenBLAS (OpenMP build) run every small GEMM as an OpenMP parallel region. With
// libgomp's default spin-waiting, a machine whose cores are also busy with anything else (a
// build, another rank, the GUI) makes each region wait for descheduled spinning threads: on 2
// cores we measured training steps 8x slower, and a bmm+linear loop 50x slower. libgomp reads
// OMP_WAIT_POLICY once, when it is loaded, so this re-executes the program with
// OMP_WAIT_POLICY=passive unless the variable is already set (the user's choice wins).
// Call first thing in main(); returns only when no re-exec was needed or it failed.
void ensure_openmp_wait_policy(char** argv);

}  // namespace qatwb
