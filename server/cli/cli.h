/*
 * cli.h - the subcommands of the `stampede` binary. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit code. They run on the main thread.
 */
#ifndef SP_CLI_H
#define SP_CLI_H

/* stampede run FILE [options]: exit 0 passed, 1 a threshold failed, 2 invalid or could not
 * start, 130 stopped by Ctrl-C. */
int sp_cmd_run(int argc, char **argv);
/* stampede serve [options]: the daemon. */
int sp_cmd_serve(int argc, char **argv);
/* stampede remote run --server URL [--token T] TEST [overrides]: a run on a daemon, from CI
 * (cli/cmd_remote.c): exit 0 passed, 1 failed (or stopped, aborted or incomplete on the
 * server), 2 invalid or could not start, 130 after Ctrl-C (the run is stopped on the server
 * first). */
int sp_cmd_remote(int argc, char **argv);
/* stampede backup [--data-dir DIR | --config FILE] FILE and stampede restore (same options),
 * cli/cmd_backup.c: exit 0 done, 1 failed, 2 bad usage. */
int sp_cmd_backup(int argc, char **argv);
/* stampede agent --server URL --token T --location NAME ...: a load generator that connects out
 * to a server and runs its share of runs across locations (cli/cmd_agent.c): exit 0 after a
 * signal, 1 when the server refused it (another protocol), 2 bad usage. */
int sp_cmd_agent(int argc, char **argv);
int sp_cmd_restore(int argc, char **argv);
#endif
