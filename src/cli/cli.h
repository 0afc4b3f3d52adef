/* uhnas CLI — shared pieces of the command programs. Only the CLI prints and exits. */
#ifndef UHNAS_CLI_H
#define UHNAS_CLI_H

#include <stdio.h>

/* Exit codes, documented in `uhnas --help`. */
enum {
    UH_EXIT_OK = 0,
    UH_EXIT_FAIL = 1,  /* a run failed: bad data file, i/o error, ... */
    UH_EXIT_USAGE = 2, /* bad command line or invalid architecture */
};

/* One command: `uhnas NAME ARGS...`. argv[0] is the command name. */
typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} uh_command_t;

int uh_cmd_train(int argc, char **argv);

/* Prints "uhnas: <message>" on stderr and returns code, for `return cli_fail(...)`. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
