/* uhnas CLI — declarative options: one table both parses the command line and prints
 * --help, so the help text cannot drift from what is accepted. */
#ifndef UHNAS_CLI_ARGS_H
#define UHNAS_CLI_ARGS_H

#include <stdio.h>

typedef enum { OPT_FLAG, OPT_INT, OPT_REAL, OPT_STRING, OPT_CHOICE } cli_opt_kind_t;

typedef struct {
    const char *name;    /* long name without dashes, e.g. "epochs" */
    cli_opt_kind_t kind; /* how the value is parsed */
    void *dest;          /* int* (FLAG, INT, CHOICE index), double* (REAL), const char** */
    double lo, hi;       /* accepted range for INT and REAL */
    const char *choices; /* OPT_CHOICE: "|"-separated names, e.g. "sgd|adam" */
    const char *metavar; /* shown in help, e.g. "N" */
    const char *help;    /* one line; say the default */
} cli_opt_t;

/* Parses argv[1..argc) against opts. "--name value" and "--name=value" are accepted; a
 * positional argument, an unknown option, a missing or out-of-range value is an error,
 * written into msg. Returns 0 on success, 1 on error, 2 when --help was given. */
int cli_parse(int argc, char **argv, const cli_opt_t *opts, int n_opts, char *msg, size_t cap);

void cli_print_options(FILE *out, const cli_opt_t *opts, int n_opts);

#endif
