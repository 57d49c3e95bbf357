# Generates a C file holding the dashboard: every file under web/ (except its npm files) plus
# the third-party files it loads (uPlot), each with its content type and an ETag, so the binary
# serves the dashboard with nothing installed beside it.
# Run as: cmake -DWEB_DIR=<web dir> -DVENDOR=<file>|<file> -DOUT=<file.c> -P embed_web.cmake
# Files of web/ keep their path (index.html, assets/app.js); vendor files go to assets/vendor/.
# Contents are written as hex bytes, which needs no escaping whatever a file holds.
file(GLOB_RECURSE files RELATIVE ${WEB_DIR} ${WEB_DIR}/*)
list(FILTER files EXCLUDE REGEX "^node_modules/|^package(-lock)?\\.json$|(^|/)\\.")
list(SORT files)
set(pairs "")
foreach(f ${files})
  list(APPEND pairs "${f}=${WEB_DIR}/${f}")
endforeach()
string(REPLACE "|" ";" VENDOR "${VENDOR}")
foreach(v ${VENDOR})
  if(NOT EXISTS ${v})
    message(FATAL_ERROR "${v} is missing: run packaging/deps.sh (or npm ci in web/)")
  endif()
  get_filename_component(name ${v} NAME)
  list(APPEND pairs "assets/vendor/${name}=${v}")
endforeach()

set(body "")
set(table "")
set(i 0)
foreach(pair ${pairs})
  string(FIND "${pair}" "=" eq)
  string(SUBSTRING "${pair}" 0 ${eq} rel)
  math(EXPR from "${eq} + 1")
  string(SUBSTRING "${pair}" ${from} -1 src)
  if(NOT rel MATCHES "^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
    message(FATAL_ERROR "web/${rel}: dashboard file names are limited to [A-Za-z0-9._-]")
  endif()
  if(rel MATCHES "\\.html$")
    set(type "text/html; charset=utf-8")
  elseif(rel MATCHES "\\.m?js$")
    set(type "text/javascript; charset=utf-8")
  elseif(rel MATCHES "\\.css$")
    set(type "text/css; charset=utf-8")
  elseif(rel MATCHES "\\.svg$")
    set(type "image/svg+xml")
  elseif(rel MATCHES "\\.png$")
    set(type "image/png")
  elseif(rel MATCHES "\\.ico$")
    set(type "image/x-icon")
  elseif(rel MATCHES "\\.json$")
    set(type "application/json")
  elseif(rel MATCHES "\\.txt$")
    set(type "text/plain; charset=utf-8")
  else()
    message(FATAL_ERROR "web/${rel}: no content type known for this extension")
  endif()
  file(SIZE ${src} size)
  file(SHA256 ${src} sha)
  string(SUBSTRING ${sha} 0 20 etag)
  file(READ ${src} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const unsigned char f${i}[] = {${hex} 0};\n")
  string(APPEND table "    {\"${rel}\", \"${type}\", f${i}, ${size}, \"\\\"${etag}\\\"\"},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE ${OUT}.tmp "/* Generated from web/ and the dashboard's npm files by server/api/embed_web.cmake; do not edit. */
#include \"api/web.h\"

${body}
static const sp_web_file table[] = {
${table}};

const sp_web_file *sp_web_files(size_t *n)
{
    *n = ${i};
    return table;
}
")
# Only replace the file when it changed, so a rebuild does not recompile it for nothing.
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
