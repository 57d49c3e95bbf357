/*
 * version.c - see version.h.
 */
#include "base/version.h"

#include "git_rev.h"

const char *sp_version(void)
{
    return SP_VERSION;
}

const char *sp_version_string(void)
{
    return "stampede " SP_VERSION " (" SP_GIT_REV ")";
}
