/*
 * main.c - the `stampede` binary: dispatches to a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "base/version.h"

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: stampede COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  run FILE      run a test definition from the command line (CI), print a summary;\n"
            "                exit 0 passed, 1 a threshold failed, 2 invalid, 130 interrupted\n"
            "  serve         start the server: dashboard, REST API, live stream, run history\n"
            "  remote run    start a run on a server and follow it (for CI)\n"
            "  agent         connect to a server and run its share of runs across locations\n"
            "  backup FILE   copy the database to FILE, safely while the server runs\n"
            "  restore FILE  put a backup back (the server must be stopped)\n"
            "  version       print the version and the git revision (also --version)\n"
            "  help          print this help\n"
            "\n"
            "`stampede COMMAND --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return sp_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return sp_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "agent") == 0)
        return sp_cmd_agent(argc - 1, argv + 1);
    if (strcmp(cmd, "remote") == 0)
        return sp_cmd_remote(argc - 1, argv + 1);
    if (strcmp(cmd, "backup") == 0)
        return sp_cmd_backup(argc - 1, argv + 1);
    if (strcmp(cmd, "restore") == 0)
        return sp_cmd_restore(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("%s\n", sp_version_string());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "stampede: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
