// The wizard's combo boxes filled from core's tables (core/util/enum_table.h): each item is a
// name exactly as the project parser reads it (item data too), with the value's one-line
// description as its tooltip; the wizard keeps no list of names of its own.
#pragma once
#include <QComboBox>
#include <QString>
#include <QStringList>
#include <string>
#include <vector>

#include "core/util/enum_table.h"

namespace qatwb::ui {

QStringList to_qt(const std::vector<std::string>& names);

// Adds the names of E's table (those of `names` when given, in that order) to `box` and selects
// `current`. With `described` the item text is "name: description" (the data stays the name).
template <typename E>
void add_enum_items(QComboBox* box, E current, const std::vector<std::string>& names,
                    bool described = false) {
  for (const auto& n : names) {
    const E v = *parse_enum<E>(n);
    const QString name = QString::fromStdString(n), help = QString::fromUtf8(enum_help(v));
    box->addItem(described ? name + ": " + help : name, name);
    box->setItemData(box->count() - 1, help, Qt::ToolTipRole);
  }
  box->setCurrentIndex(box->findData(QString::fromUtf8(enum_name(current))));
}

template <typename E>
void add_enum_items(QComboBox* box, E current, bool described = false) {
  add_enum_items(box, current, enum_names<E>(), described);
}

// The value the box shows (its item data, else its text), or `fallback` for a text that is not a
// name of E's table.
template <typename E>
E current_enum(const QComboBox* box, E fallback) {
  const QVariant data = box->currentData();
  const QString text = data.isValid() ? data.toString() : box->currentText();
  return parse_enum<E>(text.toStdString()).value_or(fallback);
}

// The ggml block types of quant.gguf_type (core's kGgmlQuantSpecs).
QStringList gguf_type_names();

}  // namespace qatwb::ui
