/* Thread counts on a shared machine: reading the kernel's runnable count, the free cores it
 * leaves, and the count asked for. No timing: bench/threads_loaded.sh measures the speed. */
#include "common.h"

#include <omp.h>

#include "uhnas/threads.h"

static void test_loadavg_running(void **state) {
    (void)state;
    assert_int_equal(uh_loadavg_running("0.30 1.18 1.78 2/92 23877\n"), 2);
    assert_int_equal(uh_loadavg_running("12.00 11.50 9.75 17/1043 99"), 17);
    assert_int_equal(uh_loadavg_running("0.00 0.00 0.00 1/1 1"), 1);
    const char *bad[] = {NULL,
                         "",
                         "0.30 1.18 1.78",
                         "0.30 1.18 1.78 x/92 1",
                         "a b c 2/92 1",
                         "0.30 1.18 1.78 -3/92 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(uh_loadavg_running(bad[i]), -1);
}

static void test_free_cores(void **state) {
    (void)state;
    /* cores, online, others -> free */
    static const int cases[][4] = {
        {2, 2, 0, 2},     /* idle */
        {2, 2, 1, 1},     /* a busy loop holds a core: the case */
        {2, 2, 2, 1},     /* every core held: still one thread */
        {2, 2, 9, 1},     /* more tasks than cores */
        {8, 8, 3, 5},     /* the cores the others leave */
        {2, 2, -1, 2},    /* a count below zero reads as none */
        {0, 4, 0, 1},     /* no core count: one thread */
        {4, 64, 32, 2},   /* a cpuset of 4 on a 64-CPU host half busy: 2 of ours held */
        {4, 64, 7, 4},    /* 7 tasks over 64 CPUs: 0.44 on ours rounds to none */
        {4, 64, 8, 3},    /* 8 over 64: 0.5 rounds to one */
        {4, 64, 200, 1},  /* an overloaded host */
        {64, 64, 200, 1}, /* the same, all of it ours */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = uh_cpu_free(cases[i][0], cases[i][1], cases[i][2]);
        if (got != cases[i][3])
            fail_msg("cores %d, online %d, others %d: %d free, want %d", cases[i][0], cases[i][1],
                     cases[i][2], got, cases[i][3]);
    }
}

static void test_share_and_asked(void **state) {
    (void)state;
    uh_cpu_share_t s;
    uh_cpu_share(&s);
    assert_true(s.cores >= 1);
    assert_in_range(s.free, 1, s.cores);
    assert_int_equal(uh_threads_asked(3), 3); /* --threads wins over the environment */
    /* Without --threads: OMP_NUM_THREADS as the runtime read it when it was loaded. */
    int want = getenv("OMP_NUM_THREADS") ? omp_get_max_threads() : 0;
    assert_int_equal(uh_threads_asked(0), want);
}

UH_TEST_MAIN(NULL, NULL, cmocka_unit_test(test_loadavg_running), cmocka_unit_test(test_free_cores),
             cmocka_unit_test(test_share_and_asked))
