/* One candidate, end to end. */
#include "uhnas/evaluate.h"

#include <stdlib.h>
#include <string.h>

int uh_evaluate(const uh_backend_t *backend, const uh_arch_t *arch, const uh_dataset_t *train,
                const uh_dataset_t *held_out, const uh_eval_config_t *cfg, uint64_t seed,
                uh_eval_result_t *out, float **weights, size_t *n_weights, uh_error_t *err) {
    memset(out, 0, sizeof *out);
    if (weights) *weights = NULL;
    uh_violations_t v;
    if (uh_backend_check(backend, arch, &v))
        return uh_error_set(err, UH_EINVAL, "violates %s: layer %d, %s: %s",
                            uh_backend_name(backend), v.items[0].layer, v.items[0].field,
                            v.items[0].msg);
    uh_energy_t energy;
    int rc = uh_backend_energy(backend, arch, &energy, err);
    if (rc) return rc;
    uh_train_opts_t opts = cfg->train;
    opts.seed = seed;
    uh_net_t *net = uh_net_new(arch, opts.batch, seed, err);
    if (!net) return err ? err->code : UH_ENOMEM;
    if (cfg->start_weights) {
        if (cfg->n_start_weights != uh_net_n_params(net))
            rc = uh_error_set(err, UH_EFORMAT, "%zu weights to continue from, the network has %zu",
                              cfg->n_start_weights, uh_net_n_params(net));
        else
            memcpy(uh_net_params(net), cfg->start_weights,
                   cfg->n_start_weights * sizeof *cfg->start_weights);
    }
    uh_backend_sim_t *sim = NULL;
    if (!rc && cfg->noise_aware) rc = uh_backend_sim_new(backend, arch, UH_SIM_TRAIN, &sim, err);
    uh_train_result_t tr = {0};
    if (!rc) {
        uh_net_set_noise(net, uh_backend_sim_hook(sim), seed);
        rc = uh_net_train(net, train, &opts, cfg->progress, cfg->progress_ctx, &tr, err);
        uh_net_set_noise(net, NULL, 0);
    }
    uh_mc_result_t mc = {0};
    /* Hardware samples get their own stream, apart from the training noise's. */
    if (!rc) rc = uh_backend_evaluate(backend, net, held_out, cfg->mc, seed ^ 0x6d63ull, &mc, err);
    if (!rc && weights) {
        size_t n = uh_net_n_params(net);
        *weights = malloc(n * sizeof(float));
        if (!*weights) {
            rc = uh_error_set(err, UH_ENOMEM, "out of memory copying weights");
        } else {
            memcpy(*weights, uh_net_params(net), n * sizeof(float));
            *n_weights = n;
        }
    }
    if (!rc) {
        out->accuracy = mc.clean_accuracy;
        out->noisy_accuracy = mc.noisy_accuracy;
        out->noisy_std = mc.noisy_std;
        out->energy_nj = energy.total_nj;
        out->latency_ns = energy.latency_ns;
        out->area_mm2 = energy.footprint.area_mm2;
        out->train_seconds = tr.train_seconds;
        out->final_loss = tr.final_loss;
        out->params = arch->params;
        out->macs = arch->macs;
    }
    uh_backend_sim_free(sim);
    uh_net_free(net);
    return rc;
}
