// The text patterns of project fields, one function each, shared by the project parser, `qatwb
// project new` and the GUI wizard's validators, so that both accept and refuse the same values.
// std::regex (ECMAScript) underneath, as everywhere in the parser.
#pragma once
#include <string>

namespace qatwb::project {

// name (and `project new NAME`): letters, digits, '.', '_', '-', not starting with '.' or '-';
// it names the run folder.
bool is_plain_name(const std::string& name);
// train.device: cpu, cuda or cuda:N.
bool is_device(const std::string& device);
// runner.time_limit: a Slurm time limit, MINUTES[:SS] or [D-]H[H][:MM[:SS]] (04:00:00,
// 1-00:00:00, 90).
bool is_slurm_time(const std::string& time);
// runner.account: one word (no blanks or line breaks); empty means none.
bool is_one_word(const std::string& text);
// quant.include / quant.exclude / quant.overrides[].match: "" when `pattern` is a valid
// ECMAScript regular expression (the engine searches module names with it), else the reason.
std::string regex_error(const std::string& pattern);

}  // namespace qatwb::project
