/* uhnas — the search space and the classic evolutionary operators on architectures.
 *
 * A space is derived from a backend's constraints (allowed layer types, activations, bit
 * widths, tiles, size limits) and the data's shape, so every architecture an operator
 * returns parses, resolves and passes the backend's check (and the run's cost limits, when
 * the space has any): operators repair or retry, and never hand the search something that
 * would be refused. All randomness comes from the
 * uh_rng_t passed in. */
#ifndef UHNAS_SPACE_H
#define UHNAS_SPACE_H

#include "uhnas/arch.h"
#include "uhnas/backend.h"
#include "uhnas/rng.h"

#define UH_SPACE_MAX_CHOICES 16
/* Hidden layers the operators will build (the format itself allows more), where the space
 * caps them (uh_space_t.depth_caps): the genome (uh_space_encode) and the built-in model's
 * language have room for these and no more. */
#define UH_SPACE_MAX_CONV 3
#define UH_SPACE_MAX_DENSE 4
/* Attempts before an operator gives up on a repair and samples a fresh architecture. */
#define UH_SPACE_MAX_TRIES 64
/* The cost-spread sampler draws a target log10 MACs uniformly over the first
 * UH_SPACE_SAMPLE_DECADES decades above the task's smallest network (one dense layer, inputs
 * -> classes; capped by the backend's max_macs), then keeps the one of UH_SPACE_COST_DRAWS
 * valid structural draws nearest to it (docs/strategies.md, "Random samples"). */
#define UH_SPACE_SAMPLE_DECADES 2.5
#define UH_SPACE_COST_DRAWS 16

/* How uh_space_sample draws: uniform choices of structure (every run stored before the
 * choice existed), or with its cost spread log-uniformly in MACs. */
typedef enum { UH_SAMPLER_UNIFORM, UH_SAMPLER_COST_SPREAD, UH_SAMPLER_COUNT } uh_sampler_t;
extern const char *const UH_SAMPLER_NAMES[UH_SAMPLER_COUNT + 1]; /* "uniform", "cost-spread" */

typedef struct {
    int n;
    int v[UH_SPACE_MAX_CHOICES];
} uh_choices_t;

/* Hard limits on what one inference may cost on the hardware (a run's --max-energy-nj,
 * --max-latency-ns and --max-area-mm2); a value <= 0 is no limit. A limit on a quantity the
 * backend does not model (it reports 0) never binds. */
typedef struct {
    double max_energy_nj, max_latency_ns, max_area_mm2;
} uh_limits_t;

typedef enum {
    UH_LIMIT_NONE,
    UH_LIMIT_ENERGY,
    UH_LIMIT_LATENCY,
    UH_LIMIT_AREA,
    UH_LIMIT_COUNT
} uh_limit_t;

const char *uh_limit_name(uh_limit_t l);   /* "energy", "latency", "area" ("" for none) */
const char *uh_limit_option(uh_limit_t l); /* "--max-energy-nj", ... ("" for none) */
int uh_limits_any(const uh_limits_t *l);   /* 1 when some limit is set */
/* The first limit (energy, latency, area) that the costs exceed, or UH_LIMIT_NONE; msg (may
 * be NULL) then names it, e.g. "energy 812.3 nJ exceeds --max-energy-nj 100". */
uh_limit_t uh_limits_check(const uh_limits_t *l, double energy_nj, double latency_ns,
                           double area_mm2, char *msg, size_t cap);

typedef struct {
    uh_shape_t input;
    const uh_backend_t *backend; /* constraints and model checks; not owned */
    uh_limits_t limits;          /* none after uh_space_init; the search sets the run's */
    uh_sampler_t sampler;        /* uniform after uh_space_init; the search sets the run's */
    /* 1 after uh_space_init: mutations and crossovers keep to UH_SPACE_MAX_CONV conv and
     * UH_SPACE_MAX_DENSE hidden dense layers (samples always do). 0 in runs stored before: a
     * chain of mutations, as linas's predictor search makes, grew networks of 21 conv layers
     * whose genome saw only the first 3. The search sets the run's. */
    int depth_caps;
    int allow_conv, allow_pool;
    uh_choices_t units, filters, kernels, pool_sizes;
    uh_choices_t activations; /* uh_act_t values usable on hidden layers */
    uh_choices_t bits;        /* 0 = full precision, then allowed explicit widths */
    uh_choices_t tiles;       /* 0 = backend default, then allowed tile sizes */
} uh_space_t;

/* Builds the default space for backend (may be NULL: no constraints) and input. */
int uh_space_init(uh_space_t *space, const uh_backend_t *backend, uh_shape_t input,
                  uh_error_t *err);

/* 1 when arch resolves, has no violations on the space's backend and is within the space's
 * limits. Every operator below returns only such architectures. */
int uh_space_valid(const uh_space_t *space, uh_arch_t *arch);
/* The same without the limits: 1 when arch resolves and the backend accepts it. */
int uh_space_valid_hardware(const uh_space_t *space, uh_arch_t *arch);
/* 1 when a keeps to the depth caps (UH_SPACE_MAX_CONV conv and UH_SPACE_MAX_DENSE hidden
 * dense layers) or the space has none; otherwise 0, and why (may be NULL) says by how much.
 * The search holds every child to it, whichever operator made it. */
int uh_space_within_depth(const uh_space_t *space, const uh_arch_t *a, char *why, size_t cap);
/* Which of the space's limits arch (resolved, valid on the hardware) exceeds, as
 * uh_limits_check; cost (may be NULL) receives its energy (nJ), latency (ns) and area (mm²)
 * from the backend (NaN when no limit is set). A backend that cannot cost arch counts as
 * exceeding the energy limit, with its reason in msg. */
uh_limit_t uh_space_over_limit(const uh_space_t *space, const uh_arch_t *arch, double cost[3],
                               char *msg, size_t cap);

/* A random valid architecture, drawn by the space's sampler; deterministic from rng. */
int uh_space_sample(const uh_space_t *space, uh_rng_t *rng, uh_arch_t *out, uh_error_t *err);

/* One random mutation of parent (add/remove/resize a layer, change activation, kernel,
 * bits or tile), repaired until valid; falls back to a fresh sample after
 * UH_SPACE_MAX_TRIES. *what names the mutation applied ("add-dense", "resize", ...). */
int uh_space_mutate(const uh_space_t *space, const uh_arch_t *parent, uh_rng_t *rng, uh_arch_t *out,
                    const char **what, uh_error_t *err);

/* One-point crossover on the layer lists: a prefix of a and a suffix of b, cut where the
 * shapes join (spatial part with spatial part, dense part with dense part). */
int uh_space_crossover(const uh_space_t *space, const uh_arch_t *a, const uh_arch_t *b,
                       uh_rng_t *rng, uh_arch_t *out, uh_error_t *err);

/* A fixed-length numeric encoding of an architecture, for predictors and genome distances:
 * per conv slot (UH_SPACE_MAX_CONV, in order) present, log2 filters, kernel, stride, pool
 * window after it, activation, bits, log2 tile; per hidden dense slot (UH_SPACE_MAX_DENSE)
 * present, log2 units, activation, bits, log2 tile; the output layer's bits and log2 tile;
 * log10 params and log10 MACs. Absent slots are zeros. */
#define UH_SPACE_CONV_FEATURES 8
#define UH_SPACE_DENSE_FEATURES 5
#define UH_SPACE_FEATURES                                                                          \
    (UH_SPACE_MAX_CONV * UH_SPACE_CONV_FEATURES + UH_SPACE_MAX_DENSE * UH_SPACE_DENSE_FEATURES + 4)
void uh_space_encode(const uh_arch_t *arch, double f[UH_SPACE_FEATURES]);

/* Distance between two encodings: Euclidean, each feature divided by a fixed typical range so
 * that no single feature dominates. */
double uh_space_distance(const double a[UH_SPACE_FEATURES], const double b[UH_SPACE_FEATURES]);

#endif
