/* The networks the training benchmarks share: the MLP 784-256-128-10 and the demo CNN
 * conv(8,3×3)-maxpool(2)-dense(32)-dense(10) of MISSION.md's PyTorch figures. */
#ifndef UHNAS_BENCH_NETS_H
#define UHNAS_BENCH_NETS_H

static const char *const BENCH_MLP =
    "{\"layers\":[{\"type\":\"dense\",\"units\":256,\"activation\":\"relu\"},"
    "{\"type\":\"dense\",\"units\":128,\"activation\":\"relu\"},"
    "{\"type\":\"dense\",\"units\":10}]}";
static const char *const BENCH_CNN =
    "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,\"activation\":\"relu\"},"
    "{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},"
    "{\"type\":\"dense\",\"units\":32,\"activation\":\"relu\"},{\"type\":\"dense\",\"units\":10}]}";

#endif
