// One events.jsonl line as a log line, for the log pane of a run that has no worker.log (a run
// started with `qatwb run` in a terminal): parsed with core/run's own event parser, per-layer
// metrics left out (the metric browser has them), the headline training values shown.
#pragma once
#include <QByteArray>
#include <QString>

namespace qatwb::ui {

// "" for a blank line; a line that is not an event reads "(bad event line: why)".
QString event_line_text(const QByteArray& line);

}  // namespace qatwb::ui
