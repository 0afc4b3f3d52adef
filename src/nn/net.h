/* uhnas — the network object, shared by net.c (build, forward, backward, step) and train.c
 * (epoch loop, evaluation). Internal to src/nn. */
#ifndef UHNAS_NN_NET_H
#define UHNAS_NN_NET_H

#include "layers.h"
#include "uhnas/nn.h"

/* Streams of noise samples, so that training, evaluation and plain forward calls never
 * draw the same perturbation (mixed into the noise seed). */
#define NN_STREAM_TRAIN 0x747261696e000001ull
#define NN_STREAM_EVAL 0x6576616c00000002ull
#define NN_STREAM_FORWARD 0x66776400000003ull

typedef struct {
    uh_layer_type_t type;
    uh_act_t act;
    int bits;           /* 0 = full precision */
    int in_sz, out_sz;  /* values per sample */
    long w_off, b_off;  /* into params/grads; -1 when the layer has none */
    int rows, cols;     /* weight matrix: dense units × in, conv filters × C·K·K */
    nn_win_t g;         /* conv / pool geometry */
    float *z;           /* pre-activation outputs [max_batch × out_sz] (dense, conv) */
    float *a;           /* outputs after activation [max_batch × out_sz]; the same buffer as
                           z (activation in place) for none, and for relu / leaky_relu
                           without bits, whose derivative the output's sign gives */
    int permute_in;     /* dense fed by a spatial layer: input goes CNHW -> NCHW into xin */
    float *xin;         /* that input, [max_batch × in_sz] */
    int32_t *arg;       /* max pool: argmax per output */
    float *col;         /* conv: im2col scratch (own when kept, else the shared one) */
    int chunk;          /* conv: samples per im2col block */
    int col_kept;       /* conv: col survives from forward to backward (chunk >= max_batch) */
    const float *w_fwd; /* weights the forward pass uses: params, or the quantized /
                           perturbed copy in w_copy */
    const float *in;    /* the last forward pass's input (for the weight gradient) */
} nn_layer_t;

struct uh_net {
    uh_arch_t arch;
    int n_layers, max_batch;
    int first_param; /* first dense/conv layer: backward stops there and skips its dx */
    int in_sz, n_classes;
    size_t n_params;
    float *params, *grads;
    float *opt_m, *opt_v; /* SGD: momentum buffer in opt_m; Adam: first and second moments */
    long adam_t;          /* Adam steps taken */
    float *w_copy;        /* forward copies of weights (same layout as params) */
    float *gbuf[2];       /* backward ping-pong [max_batch × largest layer output] */
    float *gperm;         /* input gradient of a permute_in dense layer, before CNHW */
    float *x_cnp;         /* the input batch in CNHW, when the first layer is spatial, C > 1 */
    float *col_shared;    /* im2col blocks of conv layers that do not keep theirs */
    float *dw_part;       /* partial weight gradients of thin conv layers */
    float *xb;            /* gathered mini-batch [max_batch × in_sz] */
    uint8_t *yb;          /* its labels */
    /* noise hook */
    const uh_noise_t *noise;
    uint64_t noise_seed;
    uint64_t train_calls, forward_calls;
    uh_rng_t out_rng; /* perturb_outputs stream of the current call */
    nn_layer_t layers[UH_ARCH_MAX_LAYERS];
    /* every buffer above, for uh_net_free */
    void *mem[8 * UH_ARCH_MAX_LAYERS + 16];
    int n_mem;
    size_t bytes;
};

/* Makes each layer's forward weights: the parameters themselves, or a copy that is
 * fake-quantized (layers with bits) and perturbed by the noise hook, drawn from stream id of
 * the given kind (NN_STREAM_*). Also seeds the output-noise stream for this call. */
void nn_prepare_weights(uh_net_t *net, uint64_t kind, uint64_t id);
/* Forward pass of n samples (1..max_batch) through the prepared weights; returns logits. */
const float *nn_forward(uh_net_t *net, const float *x, int n);
/* One training step's gradients: prepares the weights (the next training noise sample),
 * runs forward, softmax cross-entropy and backward into grads; returns the mean loss.
 * n must be in 1..max_batch and labels below n_classes (checked by the callers). */
float nn_loss_grad(uh_net_t *net, const float *x, const uint8_t *y, int n);

#endif
