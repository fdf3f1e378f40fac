// Quoting for POSIX shells: every remote command (ssh, sbatch scripts) is built from argv vectors
// whose elements are quoted here, so names and paths containing spaces, quotes, `$()`, backticks
// or `;` reach the program as one literal argument and never execute anything.
#pragma once
#include <string>
#include <vector>

namespace qatwb::jobs {

// One argument quoted for sh/bash: returned as is when it holds only [A-Za-z0-9_@%+=:,./-]
// (and is not empty), else wrapped in single quotes with each ' written as '\''.
std::string shell_quote(const std::string& arg);
// The arguments quoted and joined by single spaces (a command line for `sh -c`).
std::string shell_join(const std::vector<std::string>& argv);
// Splits a command line the way sh would split words (no expansion): blanks separate words,
// '...' is literal, "..." honours \" \\ \$ \`, a backslash outside quotes escapes the next
// character. Throws qatwb::Error on an unterminated quote or a trailing backslash.
std::vector<std::string> split_command_line(const std::string& line);

}  // namespace qatwb::jobs
