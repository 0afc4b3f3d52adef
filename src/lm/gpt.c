/* A small GPT: forward, backward and AdamW (see uhnas/gpt.h). One idea per kernel, after
 * karpathy's llm.c; the matrix products go to SGEMM, everything else is a plain loop. */
#include "uhnas/gpt.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "uhnas/fileio.h"
#include "uhnas/limits.h"
#include "uhnas/rng.h"

enum {
    P_WTE,
    P_WPE,
    P_LN1W,
    P_LN1B,
    P_QKVW,
    P_QKVB,
    P_ATTPROJW,
    P_ATTPROJB,
    P_LN2W,
    P_LN2B,
    P_FCW,
    P_FCB,
    P_FCPROJW,
    P_FCPROJB,
    P_LNFW,
    P_LNFB,
    N_PARAM_TENSORS
};

/* The tensors' names, in the order above (uh_gpt_tensor). */
static const char *const PARAM_NAMES[N_PARAM_TENSORS] = {
    "wte",  "wpe",  "ln1w", "ln1b", "qkvw",    "qkvb",    "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw",  "fcb",  "fcprojw", "fcprojb", "lnfw",     "lnfb"};

enum {
    A_ENCODED,
    A_LN1,
    A_LN1_MEAN,
    A_LN1_RSTD,
    A_QKV,
    A_ATTY,
    A_PREATT,
    A_ATT,
    A_ATTPROJ,
    A_RESIDUAL2,
    A_LN2,
    A_LN2_MEAN,
    A_LN2_RSTD,
    A_FCH,
    A_FCH_GELU,
    A_FCPROJ,
    A_RESIDUAL3,
    A_LNF,
    A_LNF_MEAN,
    A_LNF_RSTD,
    A_LOGITS,
    A_PROBS,
    A_LOSSES,
    N_ACT_TENSORS
};

struct uh_gpt {
    uh_gpt_config_t cfg;
    int max_b;
    size_t param_sizes[N_PARAM_TENSORS], n_params;
    float *params, *grads, *m, *v; /* flat, in the order above */
    float *p[N_PARAM_TENSORS], *g[N_PARAM_TENSORS];
    size_t act_sizes[N_ACT_TENSORS], n_acts;
    float *acts, *dacts;
    float *a[N_ACT_TENSORS], *da[N_ACT_TENSORS];
    int *tokens, *targets; /* the last forward's, [B × T] */
    int B, T, n_counted;
    long steps;
    /* cached decoding of one sequence: keys and values [L × max_t × C] of the positions
     * decoded so far (valid below `decoded`), and one position's activations */
    float *keys, *values, *scratch;
    int decoded;
};

/* ---- kernels ----------------------------------------------------------------------------- */

static void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B,
                            int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *e = wte + (size_t)inp[b * T + t] * C, *p = wpe + (size_t)t * C;
            for (int i = 0; i < C; i++) o[i] = e[i] + p[i];
        }
}

static void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B,
                             int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *de = dwte + (size_t)inp[b * T + t] * C, *dp = dwpe + (size_t)t * C;
            for (int i = 0; i < C; i++) de[i] += d[i], dp[i] += d[i];
        }
}

static void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                              const float *w, const float *bias, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float m = 0, var = 0;
        for (int i = 0; i < C; i++) m += x[i];
        m /= (float)C;
        for (int i = 0; i < C; i++) var += (x[i] - m) * (x[i] - m);
        float s = 1.0f / sqrtf(var / (float)C + 1e-5f);
        float *o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = (x[i] - m) * s * w[i] + bias[i];
        mean[n] = m, rstd[n] = s;
    }
}

static void layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                               const float *inp, const float *w, const float *mean,
                               const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float dnorm_mean = 0, dnorm_norm_mean = 0;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - mean[n]) * rstd[n], dnorm = w[i] * d[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= (float)C, dnorm_norm_mean /= (float)C;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - mean[n]) * rstd[n], dnorm = w[i] * d[i];
            db[i] += d[i];
            dw[i] += norm * d[i];
            dx[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * rstd[n];
        }
    }
}

/* out [N × OC] = inp [N × C] · wᵀ (w [OC × C]) + bias (may be NULL) */
static void matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                           int C, int OC) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C, 0.0f, out,
                OC);
    if (bias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] += bias[o];
}

/* accumulates dinp += dout · w, dw += doutᵀ · inp, dbias += Σ dout */
static void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                            const float *inp, const float *w, int N, int C, int OC) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, w, C, 1.0f,
                dinp, C);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw,
                C);
    if (dbias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) dbias[o] += dout[(size_t)n * OC + o];
}

/* One query q against n keys and values (row i of each at k + i·stride, v + i·stride): the
 * scaled scores go to pre[0..n), their softmax to att[0..n), the weighted sum of values to
 * out[0..hs). Training and cached decoding share it, so they compute the same numbers. */
static void attend(float *out, float *pre, float *att, const float *q, const float *k,
                   const float *v, size_t stride, int n, int hs, float scale) {
    float maxval = -INFINITY;
    for (int t2 = 0; t2 < n; t2++) {
        const float *kt = k + (size_t)t2 * stride;
        float dot = 0;
        for (int i = 0; i < hs; i++) dot += q[i] * kt[i];
        pre[t2] = dot * scale;
        if (pre[t2] > maxval) maxval = pre[t2];
    }
    float sum = 0;
    for (int t2 = 0; t2 < n; t2++) sum += (att[t2] = expf(pre[t2] - maxval));
    for (int t2 = 0; t2 < n; t2++) att[t2] /= sum;
    for (int i = 0; i < hs; i++) out[i] = 0;
    for (int t2 = 0; t2 < n; t2++) {
        const float *vt = v + (size_t)t2 * stride;
        for (int i = 0; i < hs; i++) out[i] += att[t2] * vt[i];
    }
}

/* qkv [B × T × 3C] → out [B × T × C]; preatt and att [B × H × T × T], causal. */
static void attention_forward(float *out, float *preatt, float *att, const float *qkv, int B, int T,
                              int C, int H) {
    const int hs = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *seq = qkv + (size_t)b * T * C3 + h * hs;
                float *pre = preatt + (((size_t)b * H + h) * T + t) * T;
                float *a = att + (((size_t)b * H + h) * T + t) * T;
                attend(out + ((size_t)b * T + t) * C + h * hs, pre, a, seq + (size_t)t * C3,
                       seq + C, seq + 2 * C, C3, t + 1, hs, scale);
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0; /* the future: no weight */
            }
}

static void attention_backward(float *dqkv, float *dpreatt, float *datt, const float *dout,
                               const float *qkv, const float *att, int B, int T, int C, int H) {
    const int hs = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * H + h) * T + t) * T;
                float *da = datt + (((size_t)b * H + h) * T + t) * T;
                float *dpre = dpreatt + (((size_t)b * H + h) * T + t) * T;
                const float *d = dout + ((size_t)b * T + t) * C + h * hs;
                const float *q = qkv + ((size_t)b * T + t) * C3 + h * hs;
                float *dq = dqkv + ((size_t)b * T + t) * C3 + h * hs;
                for (int t2 = 0; t2 <= t; t2++) { /* through the weighted sum of values */
                    const float *v = qkv + ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
                    float *dv = dqkv + ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
                    for (int i = 0; i < hs; i++) {
                        da[t2] += v[i] * d[i];
                        dv[i] += a[t2] * d[i];
                    }
                }
                /* through the softmax: dpre_j = a_j (da_j − Σ_i a_i da_i), the Jacobian
                 * a_i (δ_ij − a_j) summed in O(T) instead of O(T²) per row */
                float weighted = 0;
                for (int t2 = 0; t2 <= t; t2++) weighted += a[t2] * da[t2];
                for (int t2 = 0; t2 <= t; t2++) dpre[t2] += a[t2] * (da[t2] - weighted);
                for (int t2 = 0; t2 <= t; t2++) { /* through q·k */
                    const float *k = qkv + ((size_t)b * T + t2) * C3 + C + h * hs;
                    float *dk = dqkv + ((size_t)b * T + t2) * C3 + C + h * hs;
                    for (int i = 0; i < hs; i++) {
                        dq[i] += k[i] * dpre[t2] * scale;
                        dk[i] += q[i] * dpre[t2] * scale;
                    }
                }
            }
}

#define GELU_SCALE 0.7978845608028654f /* sqrt(2 / pi) */

static void gelu_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], cube = 0.044715f * x * x * x;
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + cube)));
    }
}

static void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], cube = 0.044715f * x * x * x;
        float arg = GELU_SCALE * (x + cube), th = tanhf(arg), ch = coshf(arg);
        float sech2 = 1.0f / (ch * ch);
        float local =
            0.5f * (1.0f + th) + x * 0.5f * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += local * dout[i];
    }
}

static void residual_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void residual_backward(float *da, float *db, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) da[i] += dout[i], db[i] += dout[i];
}

static void softmax_forward(float *probs, const float *logits, size_t N, int V) {
    for (size_t n = 0; n < N; n++) {
        const float *z = logits + n * V;
        float *p = probs + n * V, maxval = -INFINITY, sum = 0;
        for (int i = 0; i < V; i++) maxval = z[i] > maxval ? z[i] : maxval;
        for (int i = 0; i < V; i++) sum += (p[i] = expf(z[i] - maxval));
        for (int i = 0; i < V; i++) p[i] /= sum;
    }
}

/* ---- the model ----------------------------------------------------------------------------- */

static void param_sizes(const uh_gpt_config_t *c, size_t *s) {
    size_t V = (size_t)c->vocab, T = (size_t)c->max_t, L = (size_t)c->layers,
           C = (size_t)c->channels;
    size_t sizes[N_PARAM_TENSORS] = {V * C,         T * C, L * C, L * C, L * 3 * C * C, L * 3 * C,
                                     L * C * C,     L * C, L * C, L * C, L * 4 * C * C, L * 4 * C,
                                     L * C * 4 * C, L * C, C,     C};
    memcpy(s, sizes, sizeof sizes);
}

static void act_sizes(const uh_gpt_config_t *c, int B, size_t *s) {
    size_t V = (size_t)c->vocab, T = (size_t)c->max_t, L = (size_t)c->layers,
           C = (size_t)c->channels, H = (size_t)c->heads, N = (size_t)B * T;
    size_t sizes[N_ACT_TENSORS] = {N * C,
                                   L * N * C,
                                   L * N,
                                   L * N,
                                   L * N * 3 * C,
                                   L * N * C,
                                   L * B * H * T * T,
                                   L * B * H * T * T,
                                   L * N * C,
                                   L * N * C,
                                   L * N * C,
                                   L * N,
                                   L * N,
                                   L * N * 4 * C,
                                   L * N * 4 * C,
                                   L * N * C,
                                   L * N * C,
                                   N * C,
                                   N,
                                   N,
                                   N * V,
                                   N * V,
                                   N};
    memcpy(s, sizes, sizeof sizes);
}

static size_t carve(float *base, const size_t *sizes, int n, float **ptrs) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (base) ptrs[i] = base + total;
        total += sizes[i];
    }
    return total;
}

/* floats of one decoded position: x, ln, qkv, atty, tmp (C, C, 3C, C, C), fch and its GELU
 * (4C each), logits (V), scores and weights (max_t each), mean and rstd */
#define DECODE_SCRATCH(c) ((size_t)15 * (c)->channels + (c)->vocab + 2 * (size_t)(c)->max_t + 2)

void uh_gpt_free(uh_gpt_t *m) {
    if (!m) return;
    free(m->params), free(m->grads), free(m->m), free(m->v);
    free(m->acts), free(m->dacts);
    free(m->tokens), free(m->targets);
    free(m->keys), free(m->values), free(m->scratch);
    free(m);
}

static int shape_ok(const uh_gpt_config_t *c) {
    return c->vocab >= 2 && c->vocab <= 65536 && c->max_t >= 1 && c->max_t <= 4096 &&
           c->layers >= 1 && c->layers <= 64 && c->heads >= 1 && c->channels >= c->heads &&
           c->channels % c->heads == 0 && c->channels <= 4096;
}

uh_gpt_t *uh_gpt_new(const uh_gpt_config_t *cfg, int max_b, uint64_t seed, uh_error_t *err) {
    const uh_gpt_config_t *c = cfg;
    if (!shape_ok(c) || max_b < 1 || max_b > 4096) {
        uh_error_set(err, UH_EINVAL,
                     "gpt: bad shape (vocab %d, context %d, layers %d, heads %d, "
                     "channels %d, batch %d)",
                     c->vocab, c->max_t, c->layers, c->heads, c->channels, max_b);
        return NULL;
    }
    uh_gpt_t *m = calloc(1, sizeof *m);
    if (!m) goto oom;
    m->cfg = *c;
    m->max_b = max_b;
    param_sizes(c, m->param_sizes);
    act_sizes(c, max_b, m->act_sizes);
    m->n_params = carve(NULL, m->param_sizes, N_PARAM_TENSORS, NULL);
    m->n_acts = carve(NULL, m->act_sizes, N_ACT_TENSORS, NULL);
    if ((double)m->n_acts * 8 + (double)m->n_params * 16 > 8e9) {
        uh_gpt_free(m);
        uh_error_set(err, UH_ELIMIT, "gpt: %zu parameters and %zu activations: too big",
                     m->n_params, m->n_acts);
        return NULL;
    }
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->m = calloc(m->n_params, sizeof(float));
    m->v = calloc(m->n_params, sizeof(float));
    m->acts = calloc(m->n_acts, sizeof(float));
    m->dacts = calloc(m->n_acts, sizeof(float));
    m->tokens = calloc((size_t)max_b * c->max_t, sizeof(int));
    m->targets = calloc((size_t)max_b * c->max_t, sizeof(int));
    m->keys = calloc((size_t)c->layers * c->max_t * c->channels, sizeof(float));
    m->values = calloc((size_t)c->layers * c->max_t * c->channels, sizeof(float));
    m->scratch = calloc(DECODE_SCRATCH(c), sizeof(float));
    if (!m->params || !m->grads || !m->m || !m->v || !m->acts || !m->dacts || !m->tokens ||
        !m->targets || !m->keys || !m->values || !m->scratch)
        goto oom;
    carve(m->params, m->param_sizes, N_PARAM_TENSORS, m->p);
    carve(m->grads, m->param_sizes, N_PARAM_TENSORS, m->g);
    carve(m->acts, m->act_sizes, N_ACT_TENSORS, m->a);
    carve(m->dacts, m->act_sizes, N_ACT_TENSORS, m->da);
    /* GPT-2's init; each tensor from its own stream, so one shape change moves no other */
    for (int t = 0; t < N_PARAM_TENSORS; t++) {
        uh_rng_t rng;
        uh_rng_seed_stream(&rng, seed, (uint64_t)t);
        int is_norm_w = t == P_LN1W || t == P_LN2W || t == P_LNFW;
        int is_bias = t == P_LN1B || t == P_LN2B || t == P_LNFB || t == P_QKVB || t == P_ATTPROJB ||
                      t == P_FCB || t == P_FCPROJB;
        float sd = 0.02f;
        if (t == P_ATTPROJW || t == P_FCPROJW) sd /= sqrtf(2.0f * (float)c->layers);
        for (size_t i = 0; i < m->param_sizes[t]; i++)
            m->p[t][i] = is_norm_w ? 1.0f : is_bias ? 0.0f : sd * (float)uh_rng_normal(&rng);
    }
    return m;
oom:
    uh_gpt_free(m);
    uh_error_set(err, UH_ENOMEM, "gpt: out of memory");
    return NULL;
}

int uh_gpt_max_t(const uh_gpt_t *m) {
    return m->cfg.max_t;
}

size_t uh_gpt_n_params(const uh_gpt_t *m) {
    return m->n_params;
}
float *uh_gpt_params(uh_gpt_t *m) {
    return m->params;
}
float *uh_gpt_grads(uh_gpt_t *m) {
    return m->grads;
}

int uh_gpt_tensor(const uh_gpt_t *m, int i, const char **name, size_t *offset, size_t *count) {
    if (i < 0 || i >= N_PARAM_TENSORS) return -1;
    *name = PARAM_NAMES[i];
    *offset = (size_t)(m->p[i] - m->params);
    *count = m->param_sizes[i];
    return 0;
}

const float *uh_gpt_logits(const uh_gpt_t *m) {
    return m->a[A_LOGITS];
}

float uh_gpt_forward(uh_gpt_t *m, const int *tokens, const int *targets, int B, int T) {
    const int C = m->cfg.channels, L = m->cfg.layers, H = m->cfg.heads, V = m->cfg.vocab;
    if (B < 1 || B > m->max_b || T < 1 || T > m->cfg.max_t) return NAN;
    for (int i = 0; i < B * T; i++)
        if (tokens[i] < 0 || tokens[i] >= V) return NAN;
    m->B = B, m->T = T;
    memcpy(m->tokens, tokens, (size_t)B * T * sizeof *tokens);
    const size_t N = (size_t)B * T, NC = N * C;
    float **a = m->a, **p = m->p;
    encoder_forward(a[A_ENCODED], tokens, p[P_WTE], p[P_WPE], B, T, C);
    const float *residual = a[A_ENCODED];
    for (int l = 0; l < L; l++) {
        size_t lc = (size_t)l * C;
        float *ln1 = a[A_LN1] + l * NC, *qkv = a[A_QKV] + l * 3 * NC, *atty = a[A_ATTY] + l * NC;
        float *preatt = a[A_PREATT] + (size_t)l * B * H * T * T;
        float *att = a[A_ATT] + (size_t)l * B * H * T * T;
        float *attproj = a[A_ATTPROJ] + l * NC, *res2 = a[A_RESIDUAL2] + l * NC;
        float *ln2 = a[A_LN2] + l * NC, *fch = a[A_FCH] + l * 4 * NC;
        float *fch_gelu = a[A_FCH_GELU] + l * 4 * NC, *fcproj = a[A_FCPROJ] + l * NC;
        float *res3 = a[A_RESIDUAL3] + l * NC;
        layernorm_forward(ln1, a[A_LN1_MEAN] + l * N, a[A_LN1_RSTD] + l * N, residual,
                          p[P_LN1W] + lc, p[P_LN1B] + lc, (int)N, C);
        matmul_forward(qkv, ln1, p[P_QKVW] + 3 * lc * C, p[P_QKVB] + 3 * lc, (int)N, C, 3 * C);
        attention_forward(atty, preatt, att, qkv, B, T, C, H);
        matmul_forward(attproj, atty, p[P_ATTPROJW] + lc * C, p[P_ATTPROJB] + lc, (int)N, C, C);
        residual_forward(res2, residual, attproj, NC);
        layernorm_forward(ln2, a[A_LN2_MEAN] + l * N, a[A_LN2_RSTD] + l * N, res2, p[P_LN2W] + lc,
                          p[P_LN2B] + lc, (int)N, C);
        matmul_forward(fch, ln2, p[P_FCW] + 4 * lc * C, p[P_FCB] + 4 * lc, (int)N, C, 4 * C);
        gelu_forward(fch_gelu, fch, 4 * NC);
        matmul_forward(fcproj, fch_gelu, p[P_FCPROJW] + 4 * lc * C, p[P_FCPROJB] + lc, (int)N,
                       4 * C, C);
        residual_forward(res3, res2, fcproj, NC);
        residual = res3;
    }
    layernorm_forward(a[A_LNF], a[A_LNF_MEAN], a[A_LNF_RSTD], residual, p[P_LNFW], p[P_LNFB],
                      (int)N, C);
    matmul_forward(a[A_LOGITS], a[A_LNF], p[P_WTE], NULL, (int)N, C, V);
    softmax_forward(a[A_PROBS], a[A_LOGITS], N, V);
    m->n_counted = 0;
    if (!targets) return 0;
    memcpy(m->targets, targets, N * sizeof *targets);
    double loss = 0;
    for (size_t i = 0; i < N; i++) {
        if (targets[i] < 0 || targets[i] >= V) continue;
        float pr = a[A_PROBS][i * V + targets[i]];
        a[A_LOSSES][i] = -logf(pr > 1e-30f ? pr : 1e-30f);
        loss += a[A_LOSSES][i];
        m->n_counted++;
    }
    return m->n_counted ? (float)(loss / m->n_counted) : 0.0f;
}

void uh_gpt_backward(uh_gpt_t *m) {
    const int B = m->B, T = m->T, C = m->cfg.channels, L = m->cfg.layers, H = m->cfg.heads,
              V = m->cfg.vocab;
    const size_t N = (size_t)B * T, NC = N * C;
    memset(m->grads, 0, m->n_params * sizeof(float));
    memset(m->dacts, 0, m->n_acts * sizeof(float));
    if (!m->n_counted) return;
    float **a = m->a, **da = m->da, **p = m->p, **g = m->g;
    /* softmax + cross-entropy, mean over the counted positions */
    const float dloss = 1.0f / (float)m->n_counted;
    for (size_t i = 0; i < N; i++) {
        int y = m->targets[i];
        if (y < 0 || y >= V) continue;
        const float *pr = a[A_PROBS] + i * V;
        float *dl = da[A_LOGITS] + i * V;
        for (int v = 0; v < V; v++) dl[v] = (pr[v] - (v == y ? 1.0f : 0.0f)) * dloss;
    }
    matmul_backward(da[A_LNF], g[P_WTE], NULL, da[A_LOGITS], a[A_LNF], p[P_WTE], (int)N, C, V);
    const float *residual = L ? a[A_RESIDUAL3] + (size_t)(L - 1) * NC : a[A_ENCODED];
    float *dresidual = L ? da[A_RESIDUAL3] + (size_t)(L - 1) * NC : da[A_ENCODED];
    layernorm_backward(dresidual, g[P_LNFW], g[P_LNFB], da[A_LNF], residual, p[P_LNFW],
                       a[A_LNF_MEAN], a[A_LNF_RSTD], (int)N, C);
    for (int l = L - 1; l >= 0; l--) {
        size_t lc = (size_t)l * C;
        residual = l ? a[A_RESIDUAL3] + (l - 1) * NC : a[A_ENCODED];
        float *dres_in = l ? da[A_RESIDUAL3] + (l - 1) * NC : da[A_ENCODED];
        size_t att_off = (size_t)l * B * H * T * T;
        /* MLP half */
        float *dres3 = da[A_RESIDUAL3] + l * NC, *dres2 = da[A_RESIDUAL2] + l * NC;
        residual_backward(dres2, da[A_FCPROJ] + l * NC, dres3, NC);
        matmul_backward(da[A_FCH_GELU] + l * 4 * NC, g[P_FCPROJW] + 4 * lc * C, g[P_FCPROJB] + lc,
                        da[A_FCPROJ] + l * NC, a[A_FCH_GELU] + l * 4 * NC,
                        p[P_FCPROJW] + 4 * lc * C, (int)N, 4 * C, C);
        gelu_backward(da[A_FCH] + l * 4 * NC, a[A_FCH] + l * 4 * NC, da[A_FCH_GELU] + l * 4 * NC,
                      4 * NC);
        matmul_backward(da[A_LN2] + l * NC, g[P_FCW] + 4 * lc * C, g[P_FCB] + 4 * lc,
                        da[A_FCH] + l * 4 * NC, a[A_LN2] + l * NC, p[P_FCW] + 4 * lc * C, (int)N, C,
                        4 * C);
        layernorm_backward(dres2, g[P_LN2W] + lc, g[P_LN2B] + lc, da[A_LN2] + l * NC,
                           a[A_RESIDUAL2] + l * NC, p[P_LN2W] + lc, a[A_LN2_MEAN] + l * N,
                           a[A_LN2_RSTD] + l * N, (int)N, C);
        /* attention half */
        residual_backward(dres_in, da[A_ATTPROJ] + l * NC, dres2, NC);
        matmul_backward(da[A_ATTY] + l * NC, g[P_ATTPROJW] + lc * C, g[P_ATTPROJB] + lc,
                        da[A_ATTPROJ] + l * NC, a[A_ATTY] + l * NC, p[P_ATTPROJW] + lc * C, (int)N,
                        C, C);
        attention_backward(da[A_QKV] + l * 3 * NC, da[A_PREATT] + att_off, da[A_ATT] + att_off,
                           da[A_ATTY] + l * NC, a[A_QKV] + l * 3 * NC, a[A_ATT] + att_off, B, T, C,
                           H);
        matmul_backward(da[A_LN1] + l * NC, g[P_QKVW] + 3 * lc * C, g[P_QKVB] + 3 * lc,
                        da[A_QKV] + l * 3 * NC, a[A_LN1] + l * NC, p[P_QKVW] + 3 * lc * C, (int)N,
                        C, 3 * C);
        layernorm_backward(dres_in, g[P_LN1W] + lc, g[P_LN1B] + lc, da[A_LN1] + l * NC, residual,
                           p[P_LN1W] + lc, a[A_LN1_MEAN] + l * N, a[A_LN1_RSTD] + l * N, (int)N, C);
    }
    encoder_backward(g[P_WTE], g[P_WPE], da[A_ENCODED], m->tokens, B, T, C);
}

void uh_adamw_default(uh_adamw_t *o) {
    *o = (uh_adamw_t){3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
}

/* llm.c's AdamW, not nn's uh_adam_step (PyTorch's form): the two round differently, and this
 * one's rounding is part of every run the built-in model has made (its proposals, its
 * checkpoints), so it stays as it was. */
float uh_gpt_step(uh_gpt_t *m, const uh_adamw_t *o) {
    double sq = 0;
    for (size_t i = 0; i < m->n_params; i++) sq += (double)m->grads[i] * m->grads[i];
    float norm = (float)sqrt(sq);
    float scale = o->clip > 0 && norm > o->clip ? o->clip / norm : 1.0f;
    m->steps++;
    m->decoded = 0; /* the cached keys and values were the old weights' */
    float c1 = 1.0f - powf(o->beta1, (float)m->steps), c2 = 1.0f - powf(o->beta2, (float)m->steps);
    for (int t = 0; t < N_PARAM_TENSORS; t++) {
        int decay = t == P_WTE || t == P_WPE || t == P_QKVW || t == P_ATTPROJW || t == P_FCW ||
                    t == P_FCPROJW;
        size_t off = (size_t)(m->p[t] - m->params);
        for (size_t i = off; i < off + m->param_sizes[t]; i++) {
            float gr = m->grads[i] * scale;
            m->m[i] = o->beta1 * m->m[i] + (1 - o->beta1) * gr;
            m->v[i] = o->beta2 * m->v[i] + (1 - o->beta2) * gr * gr;
            float upd = (m->m[i] / c1) / (sqrtf(m->v[i] / c2) + o->eps);
            m->params[i] -= o->lr * (upd + (decay ? o->weight_decay * m->params[i] : 0.0f));
        }
    }
    return norm;
}

/* ---- cached decoding ------------------------------------------------------------------------ */

const float *uh_gpt_decode(uh_gpt_t *m, int token, int pos) {
    const int C = m->cfg.channels, L = m->cfg.layers, H = m->cfg.heads, V = m->cfg.vocab,
              T = m->cfg.max_t, hs = C / H;
    if (token < 0 || token >= V || pos < 0 || pos >= T || pos > m->decoded) return NULL;
    m->decoded = pos + 1;
    float **p = m->p;
    float *x = m->scratch, *ln = x + C, *qkv = ln + C, *atty = qkv + 3 * C, *tmp = atty + C;
    float *fch = tmp + C, *fch_gelu = fch + 4 * C, *logits = fch_gelu + 4 * C;
    float *pre = logits + V, *att = pre + T, *mean = att + T, *rstd = mean + 1;
    const float scale = 1.0f / sqrtf((float)hs);
    encoder_forward(x, &token, p[P_WTE], p[P_WPE] + (size_t)pos * C, 1, 1, C);
    for (int l = 0; l < L; l++) {
        size_t lc = (size_t)l * C;
        float *keys = m->keys + lc * T, *values = m->values + lc * T;
        layernorm_forward(ln, mean, rstd, x, p[P_LN1W] + lc, p[P_LN1B] + lc, 1, C);
        matmul_forward(qkv, ln, p[P_QKVW] + 3 * lc * C, p[P_QKVB] + 3 * lc, 1, C, 3 * C);
        memcpy(keys + (size_t)pos * C, qkv + C, (size_t)C * sizeof *qkv);
        memcpy(values + (size_t)pos * C, qkv + 2 * C, (size_t)C * sizeof *qkv);
        for (int h = 0; h < H; h++)
            attend(atty + h * hs, pre, att, qkv + h * hs, keys + h * hs, values + h * hs, (size_t)C,
                   pos + 1, hs, scale);
        matmul_forward(tmp, atty, p[P_ATTPROJW] + lc * C, p[P_ATTPROJB] + lc, 1, C, C);
        residual_forward(x, x, tmp, (size_t)C);
        layernorm_forward(ln, mean, rstd, x, p[P_LN2W] + lc, p[P_LN2B] + lc, 1, C);
        matmul_forward(fch, ln, p[P_FCW] + 4 * lc * C, p[P_FCB] + 4 * lc, 1, C, 4 * C);
        gelu_forward(fch_gelu, fch, 4 * (size_t)C);
        matmul_forward(tmp, fch_gelu, p[P_FCPROJW] + 4 * lc * C, p[P_FCPROJB] + lc, 1, 4 * C, C);
        residual_forward(x, x, tmp, (size_t)C);
    }
    layernorm_forward(ln, mean, rstd, x, p[P_LNFW], p[P_LNFB], 1, C);
    matmul_forward(logits, ln, p[P_WTE], NULL, 1, C, V);
    return logits;
}

/* ---- checkpoints ------------------------------------------------------------------------------
 */

/* File layout (native floats; the byte-order mark refuses a file from another endianness):
 *   magic "UHGPT001", u32 0x01020304, i32 vocab, max_t, layers, heads, channels,
 *   i64 steps, u64 n_params, f32 params[n], m[n], v[n], u32 crc32 of everything before;
 *   or magic "UHGPTW01", the same header with steps 0, params[n] and the crc32. */
#define CKPT_MAGIC "UHGPT001"         /* weights, AdamW moments and steps */
#define CKPT_WEIGHTS_MAGIC "UHGPTW01" /* weights alone: training starts afresh from them */
#define CKPT_HEADER (8 + 4 + 5 * 4 + 8 + 8)

const uh_gpt_config_t *uh_gpt_config(const uh_gpt_t *m) {
    return &m->cfg;
}

/* The checkpoint of m: its weights, then its AdamW moments unless weights_only. */
static int save(const uh_gpt_t *m, const char *path, int weights_only, uh_error_t *err) {
    const int n_arrays = weights_only ? 1 : 3;
    const size_t n = m->n_params, len = CKPT_HEADER + n_arrays * n * sizeof(float) + 4;
    unsigned char *buf = malloc(len), *at = buf;
    if (!buf) return uh_error_set(err, UH_ENOMEM, "out of memory");
    const uint32_t bom = 0x01020304;
    const int32_t shape[5] = {m->cfg.vocab, m->cfg.max_t, m->cfg.layers, m->cfg.heads,
                              m->cfg.channels};
    const int64_t steps = weights_only ? 0 : m->steps;
    const uint64_t count = n;
    memcpy(at, weights_only ? CKPT_WEIGHTS_MAGIC : CKPT_MAGIC, 8), at += 8;
    memcpy(at, &bom, 4), at += 4;
    memcpy(at, shape, sizeof shape), at += sizeof shape;
    memcpy(at, &steps, 8), at += 8;
    memcpy(at, &count, 8), at += 8;
    const float *arrays[3] = {m->params, m->m, m->v};
    for (int i = 0; i < n_arrays; i++)
        memcpy(at, arrays[i], n * sizeof(float)), at += n * sizeof(float);
    uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(at - buf));
    memcpy(at, &crc, 4);
    int rc = uh_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

int uh_gpt_save(const uh_gpt_t *m, const char *path, uh_error_t *err) {
    return save(m, path, 0, err);
}

int uh_gpt_save_weights(const uh_gpt_t *m, const char *path, uh_error_t *err) {
    return save(m, path, 1, err);
}

uh_gpt_t *uh_gpt_load(const char *path, int max_b, const uh_gpt_config_t *want, uh_error_t *err) {
    char *buf = NULL;
    size_t len = 0;
    if (uh_read_file(path, UH_GPT_MAX_CHECKPOINT_BYTES, &buf, &len, err)) return NULL;
    uh_gpt_t *m = uh_gpt_load_bytes(buf, len, path, max_b, want, err);
    free(buf);
    return m;
}

uh_gpt_t *uh_gpt_load_bytes(const void *bytes, size_t len, const char *name, int max_b,
                            const uh_gpt_config_t *want, uh_error_t *err) {
    const unsigned char *at = bytes;
    uint32_t bom = 0, crc = 0;
    int32_t shape[5];
    int64_t steps = 0;
    uint64_t count = 0;
    const int weights_only = len >= 8 && memcmp(at, CKPT_WEIGHTS_MAGIC, 8) == 0;
    const size_t n_arrays = weights_only ? 1 : 3;
    if (len < CKPT_HEADER + 4 || (!weights_only && memcmp(at, CKPT_MAGIC, 8) != 0)) {
        uh_error_set(err, UH_EINVAL, "%s: not a uhnas model checkpoint", name);
        return NULL;
    }
    memcpy(&bom, at + 8, 4);
    memcpy(shape, at + 12, sizeof shape);
    memcpy(&steps, at + 32, 8);
    memcpy(&count, at + 40, 8);
    memcpy(&crc, at + len - 4, 4);
    if (bom != 0x01020304 || steps < 0 || (weights_only && steps != 0) ||
        count != (len - CKPT_HEADER - 4) / (n_arrays * sizeof(float)) ||
        len != CKPT_HEADER + n_arrays * count * sizeof(float) + 4 ||
        crc != (uint32_t)crc32(0L, at, (uInt)(len - 4))) {
        uh_error_set(err, UH_EINVAL, "%s: damaged checkpoint (size, byte order or checksum)", name);
        return NULL;
    }
    uh_gpt_config_t cfg = {shape[0], shape[1], shape[2], shape[3], shape[4]};
    if (want && memcmp(&cfg, want, sizeof cfg) != 0) {
        uh_error_set(err, UH_EINVAL,
                     "%s: a model of vocabulary %d, context %d, %d layers, %d heads, %d channels; "
                     "expected %d, %d, %d, %d, %d",
                     name, cfg.vocab, cfg.max_t, cfg.layers, cfg.heads, cfg.channels, want->vocab,
                     want->max_t, want->layers, want->heads, want->channels);
        return NULL;
    }
    /* the count the shape implies, before allocating what the header asks for */
    size_t sizes[N_PARAM_TENSORS], n_params = 0;
    if (shape_ok(&cfg)) {
        param_sizes(&cfg, sizes);
        n_params = carve(NULL, sizes, N_PARAM_TENSORS, NULL);
    }
    if (shape_ok(&cfg) && n_params != count) {
        uh_error_set(err, UH_EINVAL, "%s: %llu parameters for a model of %zu", name,
                     (unsigned long long)count, n_params);
        return NULL;
    }
    uh_gpt_t *m = uh_gpt_new(&cfg, max_b, 0, err);
    if (!m) return NULL;
    float *arrays[3] = {m->params, m->m, m->v}; /* moments not stored stay 0 */
    at += CKPT_HEADER;
    for (size_t i = 0; i < n_arrays; i++)
        memcpy(arrays[i], at, count * sizeof(float)), at += count * sizeof(float);
    m->steps = (long)steps;
    return m;
}
