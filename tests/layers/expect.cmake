# Builds one include case (TARGET in BUILD_DIR) and checks the outcome is EXPECT: "ok" (it
# compiles) or "missing" (it fails because HEADER is not on the layer's include path, and for
# no other reason).
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(EXPECT STREQUAL "ok")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${TARGET}: ${HEADER} should be reachable, the build failed:\n${out}")
  endif()
else()
  if(rc EQUAL 0)
    message(FATAL_ERROR "${TARGET}: ${HEADER} is reachable from a layer below it")
  endif()
  string(FIND "${out}" "${HEADER}: No such file or directory" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${TARGET}: the build failed, but not for ${HEADER}:\n${out}")
  endif()
endif()
