/* uhnas — hardware backends: energy, constraints, precision and non-idealities.
 *
 * A backend is a data file (configs/backends/NAME.json) that names a physics model
 * ("digital", "mzi", "crossbar") and gives its numbers, each with its source. The search and
 * the CLI see hardware only through this header: the same search runs on every backend, so
 * platforms are compared fairly. A model with new physics is a C plug-in
 * (uh_backend_model_t) registered in src/hw/backend.c.
 *
 * File layout:
 *   {"name": "mzi-realistic", "model": "mzi", "description": "...",
 *    "constraints": {...}, "params": {...}}
 * Every number is an object {"value": X, "source": "paper, datasheet, or assumed: why"};
 * a number without a source is an error. */
#ifndef UHNAS_BACKEND_H
#define UHNAS_BACKEND_H

#include <stddef.h>

#include "uhnas/arch.h"
#include "uhnas/data.h"
#include "uhnas/error.h"
#include "uhnas/limits.h"
#include "uhnas/nn.h"

typedef struct uh_backend uh_backend_t;

/* energy per inference, with a breakdown per layer and per component */

#define UH_ENERGY_PART_NAME 24

typedef struct {
    char name[UH_ENERGY_PART_NAME]; /* "mac", "dac", "modulator", "adc", "pd_tia", "laser", ... */
    double nj;
} uh_energy_part_t;

typedef struct {
    double nj; /* this layer's total */
    int n_parts;
    uh_energy_part_t parts[UH_ENERGY_MAX_PARTS];
} uh_energy_layer_t;

/* What the network occupies on the hardware. Counts a model does not have stay 0. */
typedef struct {
    double area_mm2; /* silicon/photonic area the mapping needs (digital: the die) */
    long mzis;       /* MZIs on the chip: both meshes and the attenuator column of each mesh */
    long tiles;      /* physical meshes (MZI: U-Σ-V units) or crossbar tiles */
    long devices;    /* crossbar: memory devices; MZI: powered phase shifters */
} uh_footprint_t;

typedef struct {
    double total_nj;
    /* The time from a batch's arrival to its answers under the model's mapping (the file's
     * batch; 1 where the hardware does not batch), ns. */
    double latency_ns;
    uh_footprint_t footprint;
    int n_layers; /* = arch->n_layers; layers[i] is arch->layers[i] */
    uh_energy_layer_t layers[UH_ARCH_MAX_LAYERS];
    int n_parts; /* totals per component over all layers */
    uh_energy_part_t parts[UH_ENERGY_MAX_PARTS];
} uh_energy_t;

/* Adds nj to component `part` of layer `layer` (0-based) and to the totals. Models call
 * this; components appear in the order first added. */
void uh_energy_add(uh_energy_t *e, int layer, const char *part, double nj);

/* constraints */

typedef struct {
    int layer; /* 1-based as in parser messages; 0 = the whole network */
    char field[24];
    char msg[200];
} uh_violation_t;

typedef struct {
    int n;
    uh_violation_t items[UH_MAX_VIOLATIONS];
} uh_violations_t;

void uh_violations_add(uh_violations_t *v, int layer, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The constraints every model shares, read from the file's "constraints" object. */
typedef struct {
    unsigned layer_types;   /* bit (1u << uh_layer_type_t) set when the type is allowed */
    unsigned activations;   /* bit (1u << uh_act_t) */
    int min_bits, max_bits; /* allowed explicit per-layer "bits" (absent bits always allowed) */
    int max_units;          /* dense units */
    int max_filters;        /* conv filters */
    int max_kernel;
    long max_params;
    long max_macs;
    int min_tile, max_tile; /* allowed "tile" values; 0/0 = the hardware has no tiles */
} uh_constraints_t;

/* The constraints of a file that gives none: whatever the architecture format allows. */
void uh_constraints_default(uh_constraints_t *c);

/* precision */

typedef struct {
    int weight_bits;     /* 32 = float32, 16 = float16 (with is_float) or fixed-point bits */
    int activation_bits; /* same convention */
    int is_float;        /* 1: floating-point rounding; 0: fixed-point quantization */
    char summary[96];    /* e.g. "FP16 weights and activations", "8-bit DAC/ADC, 8-bit phases" */
} uh_precision_t;

/* simulation of the physics inside the training engine */

typedef enum {
    UH_SIM_TRAIN, /* noise-aware training: a cheap statistical model applied every batch */
    UH_SIM_EVAL,  /* inference: the full physics, one hardware sample per evaluation */
} uh_sim_mode_t;

typedef struct uh_backend_sim uh_backend_sim_t;

/* the plug-in interface a physics model implements */

typedef struct {
    const char *name; /* the "model" value in files */
    /* Reads the file's "params" object (a const cJSON *, typed void here to keep cJSON out
     * of public headers) into a new state. */
    int (*load)(const void *params, void **state, uh_error_t *err);
    void (*free)(void *state);
    /* Energy per inference of arch, added into e (already zeroed, n_layers set), with the
     * latency and footprint of the same mapping. */
    int (*energy)(const void *state, const uh_arch_t *arch, uh_energy_t *e, uh_error_t *err);
    /* Model-specific constraint checks beyond the shared ones (may be NULL). */
    void (*check)(const void *state, const uh_arch_t *arch, uh_violations_t *v);
    void (*precision)(const void *state, uh_precision_t *p);
    /* Energy of one MAC or its equivalent, in pJ, for listings (e.g. a mesh's per-MAC cost
     * at its default tile, amortised). */
    double (*pj_per_mac)(const void *state);
    /* Builds the noise hook for arch in this mode. *sim is the model's private object, freed
     * by sim_free; hook->ctx must point into it. May be NULL for noiseless hardware. */
    int (*sim_new)(const void *state, const uh_arch_t *arch, uh_sim_mode_t mode, void **sim,
                   uh_noise_t *hook, uh_error_t *err);
    void (*sim_free)(void *sim);
    /* The hardware programming of arch with its trained weights (arch->params floats, in
     * the .uhw order, uhnas/export.h) as JSON text (malloc'd), in the format named
     * program_format (docs/programming.md). Both NULL for hardware programmed otherwise. */
    const char *program_format;
    int (*program)(const void *state, const uh_arch_t *arch, const float *weights, char **json,
                   uh_error_t *err);
} uh_backend_model_t;

/* loading */

/* Loads a backend by name (found in $UHNAS_BACKENDS, ./configs/backends, then the source
 * tree's configs/backends) or by path (anything containing '/' or ending in .json). */
int uh_backend_load(const char *name_or_path, uh_backend_t **out, uh_error_t *err);
int uh_backend_load_file(const char *path, uh_backend_t **out, uh_error_t *err);
/* Parses backend text directly; `origin` names it in messages. */
int uh_backend_load_text(const char *text, size_t len, const char *origin, uh_backend_t **out,
                         uh_error_t *err);
void uh_backend_free(uh_backend_t *b);

/* Names of the backend files found in the search directories, sorted; returns the count. */
int uh_backend_list(char names[][UH_BACKEND_MAX_NAME], int max);

/* facts */

const char *uh_backend_name(const uh_backend_t *b);
const char *uh_backend_model_name(const uh_backend_t *b);
const char *uh_backend_description(const uh_backend_t *b);
const char *uh_backend_path(const uh_backend_t *b); /* "" when loaded from text */
const char *uh_backend_text(const uh_backend_t *b); /* the file's full text, for run stores */
const uh_constraints_t *uh_backend_constraints(const uh_backend_t *b);
void uh_backend_precision(const uh_backend_t *b, uh_precision_t *p);
double uh_backend_pj_per_mac(const uh_backend_t *b);

/* questions about an architecture */

int uh_backend_energy(const uh_backend_t *b, const uh_arch_t *arch, uh_energy_t *e,
                      uh_error_t *err);
/* Fills v with every violation (shared constraints, then the model's); returns v->n. */
int uh_backend_check(const uh_backend_t *b, const uh_arch_t *arch, uh_violations_t *v);

/* The format of the backend's programming file ("mzi-phases", ...), or NULL when it has
 * none; the file itself (see uh_backend_model_t.program). */
const char *uh_backend_program_format(const uh_backend_t *b);
/* The programming formats of the models compiled in, into names[0..max); their count. */
int uh_backend_program_formats(const char **names, int max);
int uh_backend_program(const uh_backend_t *b, const uh_arch_t *arch, const float *weights,
                       char **json, uh_error_t *err);

/* simulation */

int uh_backend_sim_new(const uh_backend_t *b, const uh_arch_t *arch, uh_sim_mode_t mode,
                       uh_backend_sim_t **out, uh_error_t *err);
/* The hook to give uh_net_set_noise; NULL for noiseless hardware. */
const uh_noise_t *uh_backend_sim_hook(const uh_backend_sim_t *sim);
void uh_backend_sim_free(uh_backend_sim_t *sim);

/* Trains nothing: evaluates a trained net clean and under `mc` seeded hardware samples.
 * noisy_mean/noisy_std are over the samples; sample i uses stream (seed, i). */
typedef struct {
    double clean_accuracy;
    double noisy_accuracy; /* mean over samples; = clean when the hardware is noiseless */
    double noisy_std;
    int samples;
} uh_mc_result_t;

int uh_backend_evaluate(const uh_backend_t *b, uh_net_t *net, const uh_dataset_t *ds, int mc,
                        uint64_t seed, uh_mc_result_t *out, uh_error_t *err);

/* How far the hardware is from exact arithmetic, as one number read from its physics rather
 * than its name: a reference layer (dense, 64 inputs → 16 outputs, seeded weights, the
 * backend's default bits and tile) classifies 256 seeded random inputs exactly, then under 4
 * hardware samples with the full physics (UH_SIM_EVAL); *level is the mean fraction of inputs
 * whose class changes. 0 for noiseless hardware, deterministic for a given file. */
int uh_backend_noise_level(const uh_backend_t *b, double *level, uh_error_t *err);

#endif
