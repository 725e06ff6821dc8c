# Turns report.html into a C++ source (a raw string literal), run at build time:
#   cmake -DIN=report.html -DOUT=report_assets.cc -P embed_asset.cmake
# The page stays a real, editable HTML file in the source tree.
file(READ "${IN}" content)
set(delim "ccprof_asset")
string(FIND "${content}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string delimiter )${delim}\"; change the delimiter in ${CMAKE_CURRENT_LIST_FILE}")
endif()
set(out "// Generated from ${IN} by embed_asset.cmake. Do not edit.\n")
string(APPEND out "#include <cstddef>\n\nnamespace ccprof::report::assets {\n")
string(APPEND out "extern const char kReportHtml[];\nextern const std::size_t kReportHtmlSize;\n")
string(APPEND out "const char kReportHtml[] = R\"${delim}(${content})${delim}\";\n")
string(APPEND out "const std::size_t kReportHtmlSize = sizeof(kReportHtml) - 1;\n")
string(APPEND out "}  // namespace ccprof::report::assets\n")
# Write only on change so an unchanged page does not recompile anything.
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL out)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${out}")
