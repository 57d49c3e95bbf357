/*
 * run.c - `stampede run FILE`: the headless CLI.
 */
#include <stdio.h>

#include "engine/common.h"
#include "server/cli.h"

int sp_cmd_run(int argc, char **argv)
{
    SP_UNUSED(argc);
    SP_UNUSED(argv);
    fprintf(stderr, "stampede run: not built yet.\n");
    return 2;
}
