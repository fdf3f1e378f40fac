// What an existing run directory's event log says about the run in it, and the two edits a new
// attempt makes to that log before it starts:
//  - resume: the events after the checkpoint being resumed from are replayed by the new attempt,
//    so they are cut off first and the file keeps one row per step (the store notices the cut:
//    store_ingest.cpp checks the line it last ingested);
//  - reuse: a run that failed before its first step left nothing worth keeping, so its folder
//    may take a new run (a corrected project) instead of being refused as "already holds a run".
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "core/run/run_dir.h"

namespace qatwb::run {

// Byte offset at which the events replayed by a resume from the checkpoint after
// `checkpoint_step` steps begin (nullopt: from scratch, no checkpoint), so that truncating there
// leaves every event of the steps already done and nothing else. Kept: every line up to the
// first metric or warning of a step >= checkpoint_step, eval or checkpoint of a step >
// checkpoint_step (any eval or step event at all without a checkpoint); unreadable lines just
// before that point (a crash's torn line) go too.
int64_t resume_cut_offset(const std::string& events_path, std::optional<int64_t> checkpoint_step);

// Truncates `dir`'s events.jsonl at resume_cut_offset(). Returns the number of bytes removed
// (0: nothing to cut, or no event log). Throws qatwb::Error naming the file on failure.
int64_t rewind_events_for_resume(const RunDir& dir, std::optional<int64_t> checkpoint_step);

// The reason of a run that ended `failed` before any training step (no metric, eval or
// checkpoint event, no checkpoint folder); nullopt for anything else (a run that trained, one
// still running or killed without an end event, no event log).
std::optional<std::string> failed_before_first_step(const RunDir& dir);

// Removes what such a failed attempt left (events.jsonl, config.yaml) so that a new run can
// start in `dir`. Only call it when failed_before_first_step(dir) has a value.
void clear_failed_attempt(const RunDir& dir);

}  // namespace qatwb::run
