/* The built-in GPT against mathematics: analytic gradients of every tensor (embeddings,
 * layer norms, attention, MLP) match central finite differences, a tiny corpus is learnt
 * and reproduced by greedy decoding, and a seed fixes the model. */
#include "common.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "uhnas/gpt.h"
#include "uhnas/rng.h"

static const uh_gpt_config_t TINY_GPT = {
    .vocab = 11, .max_t = 6, .layers = 2, .heads = 2, .channels = 8};

/* A model from seed with every weight moved by scale · N(0, 1) drawn from rng, so that every
 * tensor matters (norms and biases away from their 1 / 0 init). */
static uh_gpt_t *perturbed(const uh_gpt_config_t *cfg, int max_b, uint64_t seed, uh_rng_t *rng,
                           double scale) {
    uh_error_t err = {0};
    uh_gpt_t *m = uh_gpt_new(cfg, max_b, seed, &err);
    if (!m) fail_msg("%s", err.msg);
    float *p = uh_gpt_params(m);
    for (size_t i = 0; i < uh_gpt_n_params(m); i++) p[i] += (float)(scale * uh_rng_normal(rng));
    return m;
}

static void test_gradients_match_finite_differences(void **state) {
    (void)state;
    uh_rng_t rng;
    uh_rng_seed(&rng, 9);
    uh_gpt_t *m = perturbed(&TINY_GPT, 2, 5, &rng, 0.1);
    float *p = uh_gpt_params(m);
    size_t n = uh_gpt_n_params(m);
    int tokens[12], targets[12];
    for (int i = 0; i < 12; i++) {
        tokens[i] = (int)uh_rng_below(&rng, 11);
        targets[i] = i == 4 ? -1 : (int)uh_rng_below(&rng, 11); /* one uncounted position */
    }
    uh_gpt_forward(m, tokens, targets, 2, 6);
    uh_gpt_backward(m);
    float *analytic = malloc(n * sizeof *analytic);
    memcpy(analytic, uh_gpt_grads(m), n * sizeof *analytic);
    /* every tensor by its name and place, which must tile the whole parameter array */
    double worst = 0;
    size_t covered = 0, start, size;
    const char *name;
    for (int t = 0; uh_gpt_tensor(m, t, &name, &start, &size) == 0; t++) {
        assert_int_equal(start, covered);
        covered += size;
        for (int k = 0; k < 8; k++) {
            size_t i = start + (size_t)uh_rng_below(&rng, size);
            /* wpe rows past T = 6 never move the loss; all rows are used here (T = max_t) */
            const float h = 1e-2f, keep = p[i];
            p[i] = keep + h;
            double up = uh_gpt_forward(m, tokens, targets, 2, 6);
            p[i] = keep - h;
            double down = uh_gpt_forward(m, tokens, targets, 2, 6);
            p[i] = keep;
            double numeric = (up - down) / (2 * h), a = analytic[i];
            double diff = fabs(a - numeric), tol = 5e-4 + 5e-3 * fabs(numeric);
            if (diff / tol > worst) worst = diff / tol;
            if (diff > tol)
                fail_msg("%s[%zu]: analytic %.6g, finite difference %.6g", name, i - start, a,
                         numeric);
        }
    }
    assert_int_equal(covered, n);
    print_message("gradient check: worst |error| / tolerance = %.3f\n", worst);
    free(analytic);
    uh_gpt_free(m);
}

/* Four sequences, each a different permutation: greedy decoding from the first token must
 * give the rest after training. */
static void test_overfits_and_reproduces_a_corpus(void **state) {
    (void)state;
    const uh_gpt_config_t cfg = {.vocab = 12, .max_t = 8, .layers = 2, .heads = 2, .channels = 32};
    static const int corpus[4][8] = {{1, 5, 3, 7, 2, 9, 4, 0},
                                     {2, 8, 8, 1, 6, 3, 3, 0},
                                     {3, 4, 10, 11, 4, 10, 11, 0},
                                     {4, 7, 6, 5, 9, 2, 1, 0}};
    uh_error_t err = {0};
    uh_gpt_t *m = uh_gpt_new(&cfg, 4, 1, &err);
    assert_non_null(m);
    int tokens[4 * 7], targets[4 * 7];
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < 7; t++)
            tokens[s * 7 + t] = corpus[s][t], targets[s * 7 + t] = corpus[s][t + 1];
    uh_adamw_t o;
    uh_adamw_default(&o);
    o.lr = 1e-2f;
    o.weight_decay = 0;
    float loss = 0;
    for (int step = 0; step < 300; step++) {
        loss = uh_gpt_forward(m, tokens, targets, 4, 7);
        uh_gpt_backward(m);
        uh_gpt_step(m, &o);
    }
    print_message("loss after 300 steps: %.4f\n", loss);
    assert_true(loss < 0.05f);
    for (int s = 0; s < 4; s++) {
        int seq[8] = {corpus[s][0]};
        for (int t = 1; t < 8; t++) {
            uh_gpt_forward(m, seq, NULL, 1, t);
            const float *z = uh_gpt_logits(m) + (size_t)(t - 1) * cfg.vocab;
            int best = 0;
            for (int v = 1; v < cfg.vocab; v++)
                if (z[v] > z[best]) best = v;
            seq[t] = best;
        }
        assert_memory_equal(seq, corpus[s], sizeof seq);
    }
    uh_gpt_free(m);
}

static void test_seed_and_limits(void **state) {
    (void)state;
    uh_error_t err = {0};
    uh_gpt_t *a = uh_gpt_new(&TINY_GPT, 1, 42, &err), *b = uh_gpt_new(&TINY_GPT, 1, 42, &err);
    uh_gpt_t *c = uh_gpt_new(&TINY_GPT, 1, 43, &err);
    assert_memory_equal(uh_gpt_params(a), uh_gpt_params(b), uh_gpt_n_params(a) * sizeof(float));
    assert_memory_not_equal(uh_gpt_params(a), uh_gpt_params(c), uh_gpt_n_params(a) * sizeof(float));
    int bad[2] = {3, 11}; /* token 11 is outside a vocabulary of 11 */
    assert_true(isnan(uh_gpt_forward(a, bad, NULL, 1, 2)));
    int ok[7] = {0};
    assert_true(isnan(uh_gpt_forward(a, ok, NULL, 1, 7))); /* longer than the context */
    uh_gpt_config_t wrong = TINY_GPT;
    wrong.heads = 3; /* does not divide 8 channels */
    assert_null(uh_gpt_new(&wrong, 1, 1, &err));
    assert_int_equal(err.code, UH_EINVAL);
    uh_gpt_free(a);
    uh_gpt_free(b);
    uh_gpt_free(c);
}

/* Cached decoding, a token at a time, gives the logits of a whole forward pass. */
static void test_cached_decoding_matches_forward(void **state) {
    (void)state;
    const uh_gpt_config_t cfg = {.vocab = 13, .max_t = 16, .layers = 3, .heads = 4, .channels = 16};
    uh_rng_t rng;
    uh_rng_seed(&rng, 3);
    uh_gpt_t *m = perturbed(&cfg, 1, 7, &rng, 0.2);
    int seq[16];
    for (int round = 0; round < 2; round++) { /* twice: position 0 restarts a sequence */
        for (int t = 0; t < 16; t++) seq[t] = (int)uh_rng_below(&rng, 13);
        uh_gpt_forward(m, seq, NULL, 1, 16);
        float *full = malloc(16 * 13 * sizeof *full);
        memcpy(full, uh_gpt_logits(m), 16 * 13 * sizeof *full);
        double worst = 0;
        for (int t = 0; t < 16; t++) {
            const float *z = uh_gpt_decode(m, seq[t], t);
            assert_non_null(z);
            for (int v = 0; v < 13; v++) worst = fmax(worst, fabs(z[v] - full[t * 13 + v]));
        }
        print_message("decode vs forward: worst |difference| %.3g\n", worst);
        assert_true(worst < 1e-5);
        free(full);
    }
    assert_null(uh_gpt_decode(m, 13, 0));    /* outside the vocabulary */
    assert_null(uh_gpt_decode(m, 1, 16));    /* past the context */
    assert_non_null(uh_gpt_decode(m, 1, 0)); /* a new sequence */
    assert_null(uh_gpt_decode(m, 1, 2));     /* position 1 was never decoded */
    uh_gpt_free(m);
}

/* steps AdamW steps of m on one batch (2 sequences of 6 tokens). */
static void train_on(uh_gpt_t *m, const int *tokens, const int *targets, int steps,
                     const uh_adamw_t *o) {
    for (int s = 0; s < steps; s++) {
        uh_gpt_forward(m, tokens, targets, 2, 6);
        uh_gpt_backward(m);
        uh_gpt_step(m, o);
    }
}

/* Flips one bit of the byte at offset in path: a load must then refuse the file as damaged. */
static void assert_damage_refused(const char *path, long offset) {
    FILE *f = fopen(path, "r+b");
    fseek(f, offset, SEEK_SET);
    int c = fgetc(f);
    fseek(f, offset, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
    uh_error_t err = {0};
    assert_null(uh_gpt_load(path, 2, NULL, &err));
    assert_non_null(strstr(err.msg, "damaged checkpoint"));
}

/* A checkpoint restores weights, moments and step count: training continued from the file
 * gives bit-identical weights to training continued in memory; damage is refused. */
static void test_checkpoint_round_trip(void **state) {
    (void)state;
    char dir[64], path[96];
    assert_int_equal(temp_dir_new(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    uh_error_t err = {0};
    uh_gpt_t *a = uh_gpt_new(&TINY_GPT, 2, 11, &err);
    int tokens[12], targets[12];
    uh_rng_t rng;
    uh_rng_seed(&rng, 4);
    for (int i = 0; i < 12; i++)
        tokens[i] = (int)uh_rng_below(&rng, 11), targets[i] = (int)uh_rng_below(&rng, 11);
    uh_adamw_t o;
    uh_adamw_default(&o);
    train_on(a, tokens, targets, 3, &o);
    assert_int_equal(uh_gpt_save(a, path, &err), UH_OK);
    uh_gpt_t *b = uh_gpt_load(path, 2, &TINY_GPT, &err);
    assert_non_null(b);
    assert_memory_equal(uh_gpt_config(b), &TINY_GPT, sizeof TINY_GPT);
    /* another shape than the caller expects: refused before anything is allocated for it */
    uh_gpt_config_t longer = TINY_GPT;
    longer.max_t *= 64;
    assert_null(uh_gpt_load(path, 2, &longer, &err));
    assert_non_null(strstr(err.msg, "expected"));
    train_on(a, tokens, targets, 2, &o); /* Adam's moments and bias correction carry over */
    train_on(b, tokens, targets, 2, &o);
    assert_memory_equal(uh_gpt_params(a), uh_gpt_params(b), uh_gpt_n_params(a) * sizeof(float));
    /* one flipped byte, then a truncation: refused, naming the file */
    assert_damage_refused(path, 100);
    assert_int_equal(truncate(path, 60), 0);
    assert_null(uh_gpt_load(path, 2, NULL, &err));
    assert_non_null(strstr(err.msg, path));
    FILE *f = fopen(path, "wb");
    fputs("not a model at all", f);
    fclose(f);
    assert_null(uh_gpt_load(path, 2, NULL, &err));
    assert_non_null(strstr(err.msg, "not a uhnas model checkpoint"));
    assert_int_equal(remove_tree(dir), 0);
    uh_gpt_free(a);
    uh_gpt_free(b);
}

/* A weights-only checkpoint (a prior) holds the weights and nothing else: loaded, it trains
 * exactly like a fresh model given the same weights (moments and steps at 0), at a third of
 * the size; a flipped byte is refused as in a full one. */
static void test_weights_only_checkpoint(void **state) {
    (void)state;
    char dir[64], path[96];
    assert_int_equal(temp_dir_new(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/prior.bin", dir);
    uh_error_t err = {0};
    uh_gpt_t *a = uh_gpt_new(&TINY_GPT, 2, 11, &err), *fresh = uh_gpt_new(&TINY_GPT, 2, 12, &err);
    int tokens[12], targets[12];
    for (int i = 0; i < 12; i++) tokens[i] = i % 11, targets[i] = (i * 7 + 3) % 11;
    uh_adamw_t o;
    uh_adamw_default(&o);
    train_on(a, tokens, targets, 3, &o);
    assert_int_equal(uh_gpt_save_weights(a, path, &err), UH_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, 48 + uh_gpt_n_params(a) * sizeof(float) + 4);
    uh_gpt_t *b = uh_gpt_load(path, 2, &TINY_GPT, &err);
    assert_non_null(b);
    assert_memory_equal(uh_gpt_params(a), uh_gpt_params(b), uh_gpt_n_params(a) * sizeof(float));
    memcpy(uh_gpt_params(fresh), uh_gpt_params(a), uh_gpt_n_params(a) * sizeof(float));
    train_on(fresh, tokens, targets, 2, &o);
    train_on(b, tokens, targets, 2, &o);
    assert_memory_equal(uh_gpt_params(fresh), uh_gpt_params(b), uh_gpt_n_params(a) * sizeof(float));
    assert_damage_refused(path, 60);
    assert_int_equal(remove_tree(dir), 0);
    uh_gpt_free(a), uh_gpt_free(b), uh_gpt_free(fresh);
}

/* Found by fuzz/fuzz_checkpoint: a small file, well formed and with a good checksum, whose
 * header asks for a model of a far larger shape (64 layers of 4096 channels) than its count
 * and size hold. It is refused before anything of that shape is allocated, at once (it used
 * to build the whole model first, gigabytes and half a minute, to find the count wrong). */
static void test_checkpoint_shape_checked_before_allocating(void **state) {
    (void)state;
    char dir[64], path[96];
    assert_int_equal(temp_dir_new(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    uint8_t file[48 + 12 * 4 + 4] = "UHGPT001";
    uint32_t bom = 0x01020304;
    int32_t shape[5] = {65536, 4096, 64, 64, 4096};
    uint64_t count = 4;
    memcpy(file + 8, &bom, 4);
    memcpy(file + 12, shape, sizeof shape);
    memcpy(file + 40, &count, 8);
    uint32_t crc = (uint32_t)crc32(0L, file, (uInt)(sizeof file - 4));
    memcpy(file + sizeof file - 4, &crc, 4);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(file, 1, sizeof file, f), sizeof file);
    fclose(f);
    uh_error_t err = {0};
    assert_null(uh_gpt_load(path, 2, NULL, &err));
    assert_non_null(strstr(err.msg, "4 parameters for a model of"));
    assert_int_equal(remove_tree(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_match_finite_differences),
        cmocka_unit_test(test_overfits_and_reproduces_a_corpus),
        cmocka_unit_test(test_seed_and_limits),
        cmocka_unit_test(test_cached_decoding_matches_forward),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_weights_only_checkpoint),
        cmocka_unit_test(test_checkpoint_shape_checked_before_allocating),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
