/*
 * version.c - the version string, with the git revision taken at build time
 * (cmake/git_rev.cmake writes git_rev.h into the build tree).
 */
#include "server/cli.h"

#include "git_rev.h"

const char *sp_version_string(void)
{
    return "stampede " SP_VERSION " (" SP_GIT_REV ")";
}
