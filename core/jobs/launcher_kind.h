// Where a job's worker runs: runner.kind of a project and `launcher` of a job (JSON, SQLite).
// Spelled local | ssh | slurm in both.
#pragma once
#include "core/util/enum_table.h"

namespace qatwb::jobs {

enum class LauncherKind { Local, Ssh, Slurm };
EnumRows<LauncherKind> enum_rows(LauncherKind);  // rows in job.cpp
const char* to_string(LauncherKind kind);

}  // namespace qatwb::jobs
