// Errors, memory and version.
#include "shim.h"

#include <itkConfigure.h>
#include <itkMultiThreaderBase.h>
#include <itkObject.h>

#include <cstdlib>

namespace {
thread_local std::string last_error;

// ITK prints warnings (a non-uniform series, a folder without series) to stderr; upres reports
// those conditions itself, once, with the file's name.
struct QuietWarnings {
  QuietWarnings() { itk::Object::GlobalWarningDisplayOff(); }
} quiet_warnings;
}

namespace citk {
void set_error(const std::string &message) {
  // The first non-empty line: ITK descriptions can span several.
  auto start = message.find_first_not_of(" \n\t");
  std::string m = start == std::string::npos ? message : message.substr(start);
  auto end = m.find('\n');
  last_error = end == std::string::npos ? m : m.substr(0, end);
}
}  // namespace citk

extern "C" {
const char *citk_last_error(void) { return last_error.c_str(); }

void citk_free(void *p) { std::free(p); }

const char *citk_version(void) { return ITK_VERSION_STRING; }
}
