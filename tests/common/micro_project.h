// End-to-end run fixtures: a small real corpus (Brown corpus files from the npm fixtures, as
// jsonl) and a project on the llama-micro preset with the Llama-2 tokenizer that trains 8 steps
// in seconds on 2 cores.
#pragma once
#include <QString>
#include <QStringList>

namespace qatwb::test {

// Writes the given Brown corpus files (tagged text, as is) as one jsonl document each.
void write_brown_corpus(const QString& path,
                        const QStringList& files = {"ca01", "ca02", "cb01", "cc01", "cd01", "ce01",
                                                    "cf01", "cg01"});

// Writes <dir>/<name>.yaml and returns its path: 8 steps of batch 4 x 32 tokens, lr 3e-3, one
// thread, metrics every step, details every 4, eval on 8 windows. `train_extra` adds lines to
// the train section ("  key: value\n", keys other than those above); `rest` adds top-level
// sections (full precision unless it has a quant section).
QString write_micro_project(const QString& dir, const QString& name, const QString& corpus,
                            const QString& train_extra = {},
                            const QString& rest = "quant: {enabled: false}\n");

// Replaces every `from` by `to` in a text file (to vary a written project in one place).
void replace_in_file(const QString& path, const QString& from, const QString& to);

}  // namespace qatwb::test
