# How the build keeps the layers apart (docs/architecture.md).
#
# Every library gets an include root of its own under ${CMAKE_BINARY_DIR}/layers/<target>/,
# holding one entry: a link named for the layer ("store", "engine") to the headers it offers.
# The root is a PUBLIC include directory of that library, so a header is reachable only from
# the library itself and from what links to it, which is always a layer above. The project's
# top folder is on no include path: "http/http.h" written in server/store/ is not found, and
# the build fails there.

# sp_public_headers(target prefix header...): offers only the named headers of the current
# source folder, as "prefix/header.h" (the engine: its workers, VUs, run state and timer heap stay private).
function(sp_public_headers target prefix)
  set(root ${CMAKE_BINARY_DIR}/layers/${target})
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root}/${prefix})
  foreach(h ${ARGN})
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${h})
      message(FATAL_ERROR "${target}: public header ${h} does not exist")
    endif()
    file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR}/${h} ${root}/${prefix}/${h} SYMBOLIC)
  endforeach()
  target_include_directories(${target} PUBLIC ${root})
endfunction()

# sp_layer(name DEPENDS lib...): the server layer in the current folder, server/<name>/, as the
# static library sp_<name> from every .c file there, linked to the layers below it (DEPENDS).
# Its headers are included as "<name>/<module>.h".
function(sp_layer name)
  cmake_parse_arguments(L "" "" "DEPENDS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  add_library(sp_${name} STATIC ${sources})
  set(root ${CMAKE_BINARY_DIR}/layers/sp_${name})
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${root}/${name} SYMBOLIC)
  target_include_directories(sp_${name} PUBLIC ${root})
  target_link_libraries(sp_${name} PUBLIC ${L_DEPENDS})
endfunction()
