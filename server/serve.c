/*
 * serve.c - `stampede serve`: the daemon. The REST API, store and live stream come with the
 * control server; until then the command says so plainly.
 */
#include <stdio.h>

#include "engine/common.h"
#include "server/cli.h"

int sp_cmd_serve(int argc, char **argv)
{
    SP_UNUSED(argc);
    SP_UNUSED(argv);
    fprintf(stderr, "stampede serve: the control server (REST API, dashboard, live stream) is not "
                    "built yet.\nUse `stampede run FILE` to run a test from the command line.\n");
    return 2;
}

int sp_cmd_remote(int argc, char **argv)
{
    SP_UNUSED(argc);
    SP_UNUSED(argv);
    fprintf(stderr, "stampede remote: needs the control server, which is not built yet.\n"
                    "Use `stampede run FILE` to run a test from the command line.\n");
    return 2;
}
