#include "app/command.h"

namespace qatwb::cli {

std::vector<CommandSpec>& command_table() {
  static std::vector<CommandSpec> table;
  return table;
}

}  // namespace qatwb::cli
