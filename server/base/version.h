/*
 * version.h - what this binary is: the release version and the git revision it was built
 * from (cmake/git_rev.cmake writes git_rev.h into the build tree at every build). Both return
 * static strings; any thread.
 */
#ifndef SP_BASE_VERSION_H
#define SP_BASE_VERSION_H

/* The release version, "0.1.0". */
const char *sp_version(void);
/* The version line, "stampede 0.1.0 (abc1234)", with the git revision. */
const char *sp_version_string(void);

#endif
