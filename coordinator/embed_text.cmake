# Writes a C++ source that defines `const std::string_view NAME` holding the
# bytes of INPUT exactly, as a raw string literal, so a text file (the status
# page) can be edited as itself and still be compiled into the binary.
# Runs in script mode at build time:
#   cmake -DINPUT=in.html -DOUTPUT=out.cc -DHEADER=dir/x.h -DNAMESPACE=a::b -DNAME=kX
#         -P embed_text.cmake
# HEADER is included first (it declares NAME). Fails when INPUT holds what a
# raw string literal cannot keep: its closing delimiter, or a carriage return
# (compilers read CR LF in a source file as LF).
foreach(arg INPUT OUTPUT HEADER NAMESPACE NAME)
  if(NOT DEFINED ${arg})
    message(FATAL_ERROR "embed_text.cmake: -D${arg}=... is required")
  endif()
endforeach()

set(delimiter "EMBED")
file(READ "${INPUT}" text)
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "embed_text.cmake: ${INPUT} contains ')${delimiter}\"', which would end "
                      "the raw string literal; change the delimiter in this script")
endif()
# file(READ) drops carriage returns (and a compiler would read CR LF as LF).
file(SIZE "${INPUT}" input_bytes)
string(LENGTH "${text}" text_bytes)
if(NOT input_bytes EQUAL text_bytes)
  message(FATAL_ERROR "embed_text.cmake: ${INPUT} has ${input_bytes} bytes but reads as "
                      "${text_bytes}; save it with LF line ends (no CR or NUL bytes)")
endif()

set(source "// Generated from ${INPUT} by coordinator/embed_text.cmake; do not edit.\n")
string(APPEND source "#include \"${HEADER}\"\n\n#include <string_view>\n\n")
string(APPEND source "namespace ${NAMESPACE} {\n\n")
string(APPEND source "const std::string_view ${NAME} = R\"${delimiter}(${text})${delimiter}\";\n\n")
string(APPEND source "}  // namespace ${NAMESPACE}\n")

file(WRITE "${OUTPUT}" "${source}")
