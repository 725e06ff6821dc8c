# Turns a text file into a C++ source (a raw string literal) and its header, run at
# build time:
#   cmake -DIN=report.html -DOUT=report_embedded.cc -DOUT_H=report_embedded.h
#         -DNS=ccprof::report -DNAME=report_html -P embed_text_script.cmake
# defines `std::string_view NS::NAME()`. The file stays a real, editable file in the
# source tree (report/assets/report.html, profiler/catalog.json).
file(READ "${IN}" content)
set(delim "ccprof_asset")
string(FIND "${content}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string delimiter )${delim}\"; change the delimiter in ${CMAKE_CURRENT_LIST_FILE}")
endif()
set(out "// Generated from ${IN} by embed_text_script.cmake. Do not edit.\n")
set(header "${out}#pragma once\n#include <string_view>\n\nnamespace ${NS} {\nstd::string_view ${NAME}();\n}\n")
string(APPEND out "#include <string_view>\n\nnamespace ${NS} {\nnamespace {\n")
string(APPEND out "const char kText[] = R\"${delim}(${content})${delim}\";\n}\n")
string(APPEND out "std::string_view ${NAME}() { return {kText, sizeof(kText) - 1}; }\n")
string(APPEND out "}  // namespace ${NS}\n")
# Write only on change so an unchanged file does not recompile anything.
function(write_if_changed path text)
  if(EXISTS "${path}")
    file(READ "${path}" old)
    if(old STREQUAL text)
      return()
    endif()
  endif()
  file(WRITE "${path}" "${text}")
endfunction()
write_if_changed("${OUT}" "${out}")
write_if_changed("${OUT_H}" "${header}")
