#include "ui/widgets/event_line_text.h"

#include <QDateTime>
#include <cmath>

#include "core/run/event_log.h"
#include "core/run/run_dir.h"

namespace qatwb::ui {

namespace {

QString number(double v) { return std::isfinite(v) ? QString::number(v, 'g', 5) : "nan"; }

// Values without a '/' (per-layer ones are many and live in the metric browser), in order.
QString values_text(const std::map<std::string, double>& values) {
  QStringList parts;
  for (const char* key : {"loss", "lr", "grad_norm", "tokens_per_s", "step_time_s"})
    if (auto it = values.find(key); it != values.end())
      parts << QString("%1 %2").arg(key, number(it->second));
  for (const auto& [k, v] : values) {
    if (k.find('/') != std::string::npos) continue;
    const QString key = QString::fromStdString(k);
    if (QStringList{"loss", "lr", "grad_norm", "tokens_per_s", "step_time_s"}.contains(key))
      continue;
    if (parts.size() >= 12) {
      parts << "...";
      break;
    }
    parts << QString("%1 %2").arg(key, number(v));
  }
  return parts.join("  ");
}

// A checkpoint as its place inside the run ("checkpoints/step-00000100"): the absolute path the
// trainer logged names the machine it ran on, not where the run folder is now.
QString checkpoint_in_run(const QString& path) {
  const int at = path.lastIndexOf(QString(run::RunDir::kCheckpointsDir) + "/");
  return at > 0 && path[at - 1] == '/' ? path.mid(at) : path;
}

}  // namespace

QString event_line_text(const QByteArray& line) {
  if (line.trimmed().isEmpty()) return {};
  std::string why;
  const auto e =
      run::parse_event_line(std::string_view(line.constData(), size_t(line.size())), &why);
  if (!e) return QString("(bad event line: %1)").arg(QString::fromStdString(why));
  const QString time =
      e->time > 0 ? QDateTime::fromMSecsSinceEpoch(qint64(e->time * 1000)).toString("hh:mm:ss")
                  : QString("--:--:--");
  const QString step = e->step ? QString("step %1").arg(*e->step) : QString();
  QString text;
  switch (e->type) {
    case run::EventType::Start:
      text =
          QString("start %1 (project %2) on %3 %4")
              .arg(QString::fromStdString(e->start.run), QString::fromStdString(e->start.project),
                   QString::fromStdString(e->start.host), QString::fromStdString(e->start.device))
              .trimmed();
      break;
    case run::EventType::Metric:
      text = step + "  " + values_text(e->values);
      break;
    case run::EventType::Eval:
      text = "eval " + step + ": " + values_text(e->values);
      break;
    case run::EventType::Checkpoint:
      text = "checkpoint " + step + ": " + checkpoint_in_run(QString::fromStdString(e->path));
      break;
    case run::EventType::Warning:
      text = "warning" + (step.isEmpty() ? QString() : " " + step) + ": " +
             QString::fromStdString(e->message);
      break;
    case run::EventType::End:
      text = "end: " + QString::fromStdString(e->status) +
             (e->reason.empty() ? QString() : " (" + QString::fromStdString(e->reason) + ")");
      if (!e->values.empty()) text += "  " + values_text(e->values);
      break;
  }
  return time + "  " + text;
}

}  // namespace qatwb::ui
