/* Private to src/hw: IEEE binary16 rounding of float arrays (the fp16 digital format). */
#ifndef UHNAS_HW_FP16_H
#define UHNAS_HW_FP16_H

#include <stddef.h>

/* x[i] ← x[i] rounded to the nearest binary16 value, ties to even, returned as a float: 11
 * significant bits in the normal range, a fixed quantum of 2^-24 below 2^-14 (subnormals),
 * ±infinity from 65520 (65504 plus half a quantum) up; NaN is left as it is. The CPU's F16C
 * conversion where it has one, the portable code otherwise: the same bits either way. */
void hw_fp16_round(float *x, size_t n);

/* The two ways, for tests: the portable integer code, and F16C (returns 0 and leaves x alone
 * on a CPU, or a build for a processor family, without it). */
void hw_fp16_round_portable(float *x, size_t n);
int hw_fp16_round_f16c(float *x, size_t n);

#endif
