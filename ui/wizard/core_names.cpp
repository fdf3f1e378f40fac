#include "ui/wizard/core_names.h"

#include "core/quant/scheme.h"

namespace qatwb::ui {

QStringList to_qt(const std::vector<std::string>& names) {
  QStringList out;
  for (const auto& n : names) out << QString::fromStdString(n);
  return out;
}

QStringList gguf_type_names() {
  QStringList out;
  for (const auto& t : quant::kGgmlQuantSpecs) out << QString::fromUtf8(t.name);
  return out;
}

}  // namespace qatwb::ui
