# Writes OUT (a header defining SP_GIT_REV) from `git describe` of SRC_DIR, run at every build
# so that the revision is the one built, not the one configured. The file is rewritten only
# when the revision changed, so an unchanged tree rebuilds nothing. Outside a git checkout (a
# source tarball, a container build without .git) the revision is OVERRIDE when given (cmake
# -DSP_GIT_REV=...), else "unknown".
if(OVERRIDE)
  set(rev "${OVERRIDE}")
else()
  execute_process(COMMAND git describe --always --dirty --tags
                  WORKING_DIRECTORY ${SRC_DIR}
                  OUTPUT_VARIABLE rev OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                  RESULT_VARIABLE failed)
  if(failed OR NOT rev)
    set(rev unknown)
  endif()
endif()
string(REGEX REPLACE "[^A-Za-z0-9._+-]" "_" rev "${rev}")
set(text "/* Written by cmake/git_rev.cmake at build time. */\n#define SP_GIT_REV \"${rev}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()
