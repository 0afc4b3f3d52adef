/* uhnas pretrain — the built-in model's prior: a checkpoint pretrained on measured candidates
 * of earlier runs (any backends) and corpus files, for `search --llm-prior FILE`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "uhnas/lm.h"

/* Splits list at commas into items[0..*n) (list is modified); 0, or 1 when too many. */
static int split(char *list, const char **items, int max, int *n) {
    *n = 0;
    for (char *d = list ? strtok(list, ",") : NULL; d; d = strtok(NULL, ",")) {
        if (*n == max) return 1;
        items[(*n)++] = d;
    }
    return 0;
}

int uh_cmd_pretrain(int argc, char **argv, const cli_env_t *env) {
    (void)env;
    uh_lm_pretrain_t p = {.steps = 2000};
    uh_lm_opts_default(&p.model);
    const char *runs = NULL, *corpus = NULL;
    int seed = 1, no_hardware = 0, ok_only = 0, language = UH_LANG_LAYERS;
    char languages[64];
    cli_join_names(uh_lm_language_names, languages, sizeof languages);
    const cli_opt_t opts[] = {
        {"runs", OPT_STRING, &runs, 0, 0, NULL, "DIR[,DIR...]",
         "earlier runs whose measured candidates are examples (each with its own backend's "
         "hardware tokens: physics numbers, never names)"},
        {"corpus", OPT_STRING, &corpus, 0, 0, NULL, "FILE[,FILE...]",
         "corpus files read too (written by --write-corpus; gzip)"},
        {"write-corpus", OPT_STRING, &p.write_corpus, 0, 0, NULL, "FILE",
         "write every example read as one corpus file (gzip): the checkpoint can then be "
         "rebuilt from it alone"},
        {"out", OPT_STRING, &p.out, 0, 0, NULL, "FILE", "the checkpoint to write (required)"},
        {"steps", OPT_INT, &p.steps, 1, 10000000, NULL, "N", "AdamW steps (default 2000)"},
        {"seed", OPT_INT, &seed, 0, 2147483647, NULL, "N",
         "initial weights and batches (default 1)"},
        {"llm-layers", OPT_INT, &p.model.layers, 1, 16, NULL, "N",
         "transformer blocks (default 4)"},
        {"llm-heads", OPT_INT, &p.model.heads, 1, 64, NULL, "N",
         "attention heads, dividing the width (default 4)"},
        {"llm-width", OPT_INT, &p.model.channels, 1, 1024, NULL, "N", "channels (default 128)"},
        {"llm-context", OPT_INT, &p.model.context, 16, UH_LANG_MAX_TOKENS, NULL, "N",
         "context in tokens (default 256)"},
        {"llm-language", OPT_CHOICE, &language, 0, 0, languages, "NAME",
         "the language examples write children in: layers, in full (default); edits, as edits "
         "of their parents (for `search --llm-language edits`; docs/llm.md)"},
        {"no-hardware", OPT_FLAG, &no_hardware, 0, 0, NULL, NULL,
         "examples without hardware tokens (for runs with --system-prompt none)"},
        {"ok-only", OPT_FLAG, &ok_only, 0, 0, NULL, NULL,
         "the runs' fully trained candidates only (default: their pruned ones too, with the "
         "accuracies of the rung they stopped at)"}};
    int code = cli_command_args(
        argc, argv, opts, sizeof opts / sizeof *opts, "pretrain",
        "usage: uhnas pretrain (--runs DIR,... | --corpus FILE,...) --out FILE [OPTIONS]\n\n"
        "Pretrains the built-in language model on measured candidates: every ok and pruned\n"
        "candidate of the runs (with its parent in context where the run's model made it)\n"
        "and the examples of the corpus files; --steps AdamW steps of 8 examples at lr 1e-3\n"
        "from --seed, on one thread. The same inputs give the same checkpoint, byte for\n"
        "byte, on the same CPU and BLAS build. `uhnas search --strategy llm --llm-prior FILE`\n"
        "starts from it and fine-tunes it on the run. Prints the examples, the loss of the\n"
        "first and last 5 % of steps, the time and the checkpoint's digest.\n");
    if (code != CLI_GO_ON) return code;
    if (!p.out) return cli_fail(UH_EXIT_USAGE, "pretrain: --out FILE is required");
    if (!runs && !corpus) return cli_fail(UH_EXIT_USAGE, "pretrain: give --runs or --corpus");
    char *run_list = runs ? strdup(runs) : NULL, *corpus_list = corpus ? strdup(corpus) : NULL;
    const char *run_dirs[UH_LM_MAX_PRIOR], *corpora[UH_LM_MAX_PRIOR];
    if ((runs && !run_list) || (corpus && !corpus_list) ||
        split(run_list, run_dirs, UH_LM_MAX_PRIOR, &p.model.n_prior) ||
        split(corpus_list, corpora, UH_LM_MAX_PRIOR, &p.n_corpus)) {
        free(run_list), free(corpus_list);
        return cli_fail(UH_EXIT_USAGE, "pretrain: at most %d runs and %d corpus files",
                        UH_LM_MAX_PRIOR, UH_LM_MAX_PRIOR);
    }
    p.model.prior = run_dirs;
    p.corpus = corpora;
    p.model.seed = (uint64_t)seed;
    p.model.hardware_tokens = !no_hardware;
    p.model.language = (uh_lang_mode_t)language;
    p.with_pruned = !ok_only;
    uh_lm_pretrain_stats_t st;
    uh_error_t err = {0};
    int rc = uh_lm_pretrain(&p, &st, &err);
    free(run_list), free(corpus_list);
    char digest[17];
    if (!rc) rc = uh_lm_file_digest(p.out, digest, &err);
    if (rc) return cli_fail(cli_exit_code(rc), "pretrain: %s", err.msg);
    printf("%ld examples, %ld steps (%ld tokens) in %.1f s; loss %.3f -> %.3f; %zu parameters\n"
           "%s (digest %s)\n",
           st.examples, st.steps, st.train_tokens, st.seconds, st.first_loss, st.loss, st.params,
           p.out, digest);
    return UH_EXIT_OK;
}
