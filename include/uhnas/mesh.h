/* uhnas — MZI meshes: unitary decomposition, reconstruction, hardware non-idealities, SVD.
 *
 * A self-contained model of a programmable optical interferometer. It knows nothing about
 * neural networks or the search; the MZI backend is to map a weight matrix W = U Σ Vᵀ (uh_svd)
 * onto two meshes (U, Vᵀ) and a column of attenuators (Σ) with it.
 *
 * Conventions (tested in tests/test_mesh.c):
 *   - Matrices are row-major, n×n `double complex`, U[r * n + c]; mode 0 is the top waveguide.
 *   - One MZI on modes (m, m+1) with internal phase θ and external phase φ acts as
 *       T(θ, φ) = [[ e^{iφ} cos θ,  −sin θ ],
 *                  [ e^{iφ} sin θ,   cos θ ]]        (Clements et al., Optica 3, 1460, 2016)
 *     embedded in the n×n identity. Decompositions return θ ∈ [0, π/2], φ ∈ [0, 2π).
 *   - A mesh applies its MZIs in list order, then the output phase screen D = diag(e^{iδ_j}),
 *     then a common amplitude `gain`:  U = gain · D · T_K ⋯ T_2 T_1.
 *   - Physically an MZI is two directional couplers around phase shifters. With the coupler
 *     B(β) = [[cos β, i sin β], [i sin β, cos β]] (β = π/4 + α, α = 0 is 50:50),
 *       T(θ, φ) = i · B(β₂) · diag(i e^{−iθ}, −i e^{iθ}) · B(β₁) · diag(−e^{iφ}, 1)
 *     holds exactly at α₁ = α₂ = 0: a push-pull internal shifter with differential phase
 *     π − 2θ and an external shifter φ + π on the top input. The fixed offsets (π/2, π and the
 *     global i) are what calibration absorbs; splitter imbalance enters through α₁, α₂.
 *   - Physical phases. The internal shifter's physical phase is 2θ (the differential π − 2θ
 *     above; θ ∈ [0, π/2] is 2θ ∈ [0, π]); φ and the screen's δ are physical phases as they
 *     stand. Hardware numbers are quoted on physical phases, so a b-bit phase DAC (steps of
 *     2π/2^b) sets θ on a grid of π/2^b and φ, δ on 2π/2^b, and a phase error σ is N(0, σ/2)
 *     on θ (σ on 2θ) and N(0, σ) on φ, δ. Applying 2π/2^b and σ to θ itself would make a b-bit
 *     DAC a (b − 1)-bit one and double σ.
 *   - Stages: every MZI gets the earliest column it fits in given the ones before it on its
 *     two modes, so depth = number of columns = MZIs on the longest path. Clements gives
 *     depth n (n ≥ 3; 1 for n = 2), Reck gives 2n − 3. Same-stage MZIs on modes m ± 2 are
 *     the physical neighbours that thermal crosstalk couples: each column's MZIs form chains
 *     (m, m + 2, m + 4, …), and the output screen is one chain of n adjacent shifters. */
#ifndef UHNAS_MESH_H
#define UHNAS_MESH_H

#include <complex.h>
/* glibc defines CMPLX for GCC only; clang (the ThreadSanitizer build) has the builtin. */
#ifndef CMPLX
#define CMPLX(x, y) __builtin_complex((double)(x), (double)(y))
#endif

#include "uhnas/error.h"
#include "uhnas/limits.h"
#include "uhnas/rng.h"

/* One MZI. The layout fields (m, stage) are fixed when the mesh is built; phases and the
 * device parameters may be written (training, calibration, a hardware sample). */
typedef struct {
    int m;           /* acts on modes (m, m+1) */
    int stage;       /* column in the mesh, from 0 */
    double theta;    /* internal phase θ */
    double phi;      /* external phase φ */
    double alpha[2]; /* imbalance of the first and second coupler; 0 = ideal 50:50 */
    double amp;      /* amplitude transmission; 1 = lossless */
} uh_mzi_t;

typedef struct {
    int n;             /* modes */
    int n_mzis;        /* MZIs, in application order (sorted by stage) */
    int depth;         /* stages */
    uh_mzi_t *mzis;    /* n_mzis */
    double *out_phase; /* n: the output phase screen D */
    double gain;       /* common output amplitude (balanced loss); 1 when ideal */
    int *nbr;          /* 2 per MZI: the same-stage MZI on modes m−2 and m+2, or −1 */
} uh_mesh_t;

/* ---- building meshes ---- */

/* A mesh of n modes whose k-th MZI acts on (modes[k], modes[k]+1), in application order;
 * all phases 0, ideal devices. Stages and neighbours are derived from the order. */
int uh_mesh_new(int n, int n_mzis, const int *modes, uh_mesh_t **out, uh_error_t *err);
int uh_mesh_clone(const uh_mesh_t *src, uh_mesh_t **out, uh_error_t *err);
void uh_mesh_free(uh_mesh_t *mesh);

/* Haar-random n×n unitary: QR of a complex Gaussian matrix with R's diagonal phases moved
 * into Q (Mezzadri, Notices AMS 54, 592, 2007). */
int uh_mesh_haar_unitary(int n, uh_rng_t *rng, double complex *U, uh_error_t *err);

/* Rectangular mesh, n(n−1)/2 MZIs, depth n (Clements et al. 2016). U must be unitary. */
int uh_mesh_decompose_clements(const double complex *U, int n, uh_mesh_t **out, uh_error_t *err);
/* Triangular mesh, n(n−1)/2 MZIs, depth 2n − 3 (Reck et al., PRL 73, 58, 1994). */
int uh_mesh_decompose_reck(const double complex *U, int n, uh_mesh_t **out, uh_error_t *err);

/* ---- evaluating meshes ---- */

/* The closed-form T(θ, φ), row-major 2×2. */
void uh_mzi_ideal(double theta, double phi, double complex t[4]);
/* The coupler–shifter–coupler–shifter product above, imbalance included (no loss). */
void uh_mzi_physical(double theta, double phi, double alpha1, double alpha2, double complex t[4]);
/* The 2×2 an MZI applies: closed form when its couplers are ideal, times its amp. */
void uh_mzi_matrix(const uh_mzi_t *mzi, double complex t[4]);

/* The n×n matrix the mesh implements (n·n entries written). */
void uh_mesh_unitary(const uh_mesh_t *mesh, double complex *U);
/* A ← U · A for A with n rows of `cols` entries (row-major, stride cols): the mesh's
 * rotations applied to A's rows in light's order, then the screen, O(n_mzis · cols), no n×n
 * matrix. Equal to uh_mesh_unitary's U times A up to rounding; a realized block's
 * U · Σ · V is built this way without the n³ product. */
void uh_mesh_apply_rows(const uh_mesh_t *mesh, double complex *A, int cols);
/* out = U · in for one vector of n amplitudes; in and out may be the same array. */
void uh_mesh_apply(const uh_mesh_t *mesh, const double complex *in, double complex *out);
int uh_mesh_n_mzis(const uh_mesh_t *mesh);
int uh_mesh_depth(const uh_mesh_t *mesh);

/* ---- hardware non-idealities ----
 * Each effect has its own parameter; a zeroed struct is the ideal mesh. A realization draws
 * one 64-bit key from the caller's generator and gives every effect its own stream from it,
 * so switching one effect on or off leaves the others' draws unchanged. Order within a sample:
 *   1. coupler imbalance: the chip's α₁, α₂ per MZI (drawn first because calibration
 *      measures them; their stream keeps their values whatever the order);
 *   2. calibration, turning the targets into programmed settings:
 *      a. coupler correction (coupler_corrected only), local, in mesh order (Bandyopadhyay et
 *         al., Optica 8, 1247, 2021; Hamerly et al., Phys. Rev. Applied 18, 024019, 2022):
 *         with the measured α̂ = α(1 − e_c), an MZI's cross-port power A − B·cos 2θ (A =
 *         s₁²c₂² + c₁²s₂², B = 2·s₁c₁·s₂c₂, s_i = sin β_i, c_i = cos β_i) is set to the
 *         target's sin²θ_t: cos 2θ' = (A − sin²θ_t) / B clamped to [−1, 1] (a splitting
 *         outside the reachable [sin²(α₁ − α₂), cos²(α₁ + α₂)] gets the nearest end), θ' ∈
 *         [0, π/2]; φ' restores the target's input phase, and the output phases the
 *         imbalanced MZI adds are carried forward on their modes and removed by the later
 *         MZIs' φ and the output screen. e_c = 0 with every splitting reachable programs the
 *         target exactly; θ' alone would leave the first-order error (the splitting error of
 *         an imbalance α is O(α²), its phase error O(α)). Out of reach, the entries that
 *         are too large (the cross ports near bar, the bar ports near cross) stay in phase
 *         with their targets (UH_COUPLER_NEAREST: the nearest 2×2) or are turned so that
 *         their in-phase part is the target's and the excess is in quadrature
 *         (UH_COUPLER_IN_PHASE: for real weights read by homodyne detection of the in-phase
 *         quadrature, where the nearest rule would turn a quadrature error into an in-phase
 *         one);
 *      b. crosstalk inversion (crosstalk_compensated only): per chain of coupled shifters
 *         (above), the programmed setting is p' = (I + K̂)⁻¹ p for the targets p (after 2a),
 *         solved exactly (tridiagonal) for θ, for φ and for the screen δ, with the measured
 *         coupling K̂ = κ(1 − e) (Milanizadeh et al., J. Lightwave Technol. 37, 1325, 2019);
 *   3. DAC quantization of the programmed phases (grids above);
 *   4. thermal crosstalk, the chip's true κ acting on the quantized programmed phases:
 *      Δ(2θ_k) = κ · Σ 2θ_nbr, i.e. Δθ_k = κ · Σ θ_nbr; Δφ_k = κ · Σ φ_nbr; and on the
 *      screen Δδ_j = κ · (δ_{j−1} + δ_{j+1});
 *   5. fabrication/calibration phase error; 6. insertion loss.
 * With a perfect model (e = 0, no DAC) calibration cancels crosstalk exactly, and coupler
 * errors wherever the splittings are reachable.
 *
 * Ranges and wrapping. A heater only adds phase, so a physical phase φ or δ is programmed
 * within one period, the DAC's window [−π/2^b, 2π − π/2^b) (its 2^b levels; [0, 2π) with
 * b = 0), and a level's neighbours see κ × that programmed value, never an unwrapped one.
 * Uncalibrated, φ and δ are wrapped onto the levels as before (a target just under 2π is
 * level 0). Calibrated, p' is solved as real numbers; where a p' falls outside the window
 * its target is moved by a multiple of 2π (the same matrix) and the chain solved again, so
 * the settings the solve assumes are the ones the heaters hold. θ is never wrapped: 2θ
 * ∈ [0, π] from the decompositions (a little outside after calibration) sits inside one
 * period of the physical phase, and in T(θ, φ) θ + π is −T, not the same device. The
 * coupler correction returns θ' ∈ [0, π/2] (a target θ outside it is first written as
 * output phases times T(θ_c, φ_c), θ_c ∈ [0, π/2]) and the φ' and δ' it moves in [0, 2π). */
/* uh_mesh_noise_t.coupler_corrected: the rule for splittings out of reach (step 2a). */
enum { UH_COUPLER_OFF = 0, UH_COUPLER_NEAREST = 1, UH_COUPLER_IN_PHASE = 2 };

typedef struct {
    int phase_bits;     /* phase DAC resolution, on physical phases (see above); 0 = exact */
    double sigma_phase; /* rad, on physical phases: 2θ, φ, δ += N(0, σ) per shifter, once */
    double sigma_bs;    /* rad: each coupler's α ~ N(0, σ) */
    double crosstalk;   /* κ: a shifter gains κ × the phase of each same-column neighbour */
    double il_db;       /* insertion loss per MZI, dB: amplitude × 10^(−IL/20) */
    double sigma_il_db; /* per-device spread of il_db (clamped at 0 dB: no gain) */
    /* Nonzero: a mode that skips an MZI in a stage passes a dummy with the same mean loss, so
     * uniform loss becomes the pure scale 10^(−depth·IL/20). Zero: loss only where MZIs are,
     * so paths that cross fewer MZIs are attenuated less (the imbalance of Reck meshes, and
     * of the edge modes of a Clements mesh). */
    int il_balanced;
    /* Nonzero: the chip inverts its measured crosstalk (step 1); zero: uncalibrated. */
    int crosstalk_compensated;
    /* e in 0…1, the relative error of the measured coupling, K̂ = κ(1 − e); 0 = perfect,
     * 1 = nothing measured (the same as uncalibrated). Used only when compensated, which
     * needs κ(1 − e) < 1/2 (I + K̂ diagonally dominant). */
    double crosstalk_model_error;
    /* The chip corrects its measured coupler errors (step 2a) by one of the rules below;
     * UH_COUPLER_OFF (0): uncorrected. */
    int coupler_corrected;
    /* e_c in 0…1, the relative error of the measured imbalance, α̂ = α(1 − e_c); 0 = perfect,
     * 1 = nothing measured (exactly the uncorrected chip). Used only when corrected. */
    double coupler_model_error;
} uh_mesh_noise_t;

int uh_mesh_noise_check(const uh_mesh_noise_t *noise, uh_error_t *err);
/* One hardware sample of an ideal (programmed) mesh: *out gets a new mesh whose phases are
 * the effective ones and whose devices carry their imbalance and loss. */
int uh_mesh_realize(const uh_mesh_t *mesh, const uh_mesh_noise_t *noise, uh_rng_t *rng,
                    uh_mesh_t **out, uh_error_t *err);
/* The same into dst, a clone of mesh (or an earlier sample of it): no allocation, for loops. */
int uh_mesh_realize_into(const uh_mesh_t *mesh, const uh_mesh_noise_t *noise, uh_rng_t *rng,
                         uh_mesh_t *dst, uh_error_t *err);
/* Steps 2b–4 (crosstalk calibration, DAC, crosstalk) draw nothing: without coupler correction
 * they are the same for every sample of a mesh. *out gets a clone of mesh with its phases
 * programmed so (UH_EINVAL when noise corrects couplers), and a realization of it skips them:
 * uh_mesh_realize_programmed_into(*out, noise, rng, dst) gives the sample that
 * uh_mesh_realize_into(mesh, noise, rng, dst) gives, bit for bit, at a Monte-Carlo loop's
 * cost per sample of only the draws. */
int uh_mesh_program(const uh_mesh_t *mesh, const uh_mesh_noise_t *noise, uh_mesh_t **out,
                    uh_error_t *err);
int uh_mesh_realize_programmed_into(const uh_mesh_t *programmed, const uh_mesh_noise_t *noise,
                                    uh_rng_t *rng, uh_mesh_t *dst, uh_error_t *err);
/* The effective n×n matrix of one hardware sample: what a simulator multiplies by. */
int uh_mesh_unitary_noisy(const uh_mesh_t *mesh, const uh_mesh_noise_t *noise, uh_rng_t *rng,
                          double complex *U, uh_error_t *err);

/* ---- SVD for weight mapping ----
 * W (m×n, row-major) = U · diag(S) · Vt with U m×m, S min(m, n) descending, Vt n×n, all
 * row-major. LAPACK dgesvd from OpenBLAS. */
int uh_svd(const double *W, int m, int n, double *U, double *S, double *Vt, uh_error_t *err);

#endif
