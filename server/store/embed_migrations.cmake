# Generates a C file holding every migrations/NNNN_description.sql, in order, so the binary
# carries its own schema history and never depends on files beside it at run time.
# Run as: cmake -DSRC_DIR=<migrations dir> -DOUT=<file.c> -P embed_migrations.cmake
# The SQL is written as hex bytes, which needs no escaping whatever the file holds.
file(GLOB files RELATIVE ${SRC_DIR} ${SRC_DIR}/*.sql)
list(SORT files)
set(body "")
set(table "")
set(expect 1)
foreach(f ${files})
  if(NOT f MATCHES "^([0-9][0-9][0-9][0-9])_([a-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "migrations/${f}: the name must be NNNN_description.sql (lower case)")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  if(NOT version EQUAL expect)
    message(FATAL_ERROR "migrations/${f}: expected version ${expect}; versions must have no gaps")
  endif()
  string(REGEX REPLACE "\\.sql$" "" name ${f})
  file(READ ${SRC_DIR}/${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const char m${version}[] = {${hex} 0};\n")
  string(APPEND table "    {${version}, \"${name}\", m${version}},\n")
  math(EXPR expect "${expect} + 1")
endforeach()
math(EXPR count "${expect} - 1")
file(WRITE ${OUT} "/* Generated from the .sql files of migrations/ by server/store/embed_migrations.cmake; do not edit. */
#include \"store/store.h\"

${body}
static const sp_store_migration table[] = {
${table}    {0, 0, 0},
};

const sp_store_migration *sp_store_migrations(size_t *n)
{
    *n = ${count};
    return table;
}
")
