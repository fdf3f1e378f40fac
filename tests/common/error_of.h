// error_of(f): the message of the qatwb::Error that f throws, "" when it throws none (tests
// that pin an error message to the file, line or field it names).
#pragma once
#include <string>

#include "core/util/error.h"

namespace qatwb::test {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const qatwb::Error& e) {
    return e.what();
  }
  return {};
}

}  // namespace qatwb::test
