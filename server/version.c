/*
 * version.c - the version string, with the git revision baked in by CMake.
 */
#include "server/cli.h"

const char *sp_version_string(void)
{
    return "stampede " SP_VERSION " (" SP_GIT_REV ")";
}
