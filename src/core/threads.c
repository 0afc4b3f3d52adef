/* uhnas — thread counts and waiting for a machine shared with other processes. */
#include "uhnas/threads.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Samples of the runnable count and the pause between them: a compiler's short-lived child
 * or a shell is runnable for a moment and gone 1 ms later; a process that holds a core is
 * runnable in every sample. Three samples cost about 2 ms at start-up. */
enum { LOAD_SAMPLES = 3 };
#define LOAD_SAMPLE_GAP_NS 1000000L
/* /proc/loadavg is one short line ("0.30 1.18 1.78 2/92 23877"). */
#define LOADAVG_MAX 128

int uh_loadavg_running(const char *text) {
    double avg[3];
    int running, total;
    if (!text ||
        sscanf(text, "%lf %lf %lf %d/%d", &avg[0], &avg[1], &avg[2], &running, &total) != 5 ||
        running < 0)
        return -1;
    return running;
}

int uh_cpu_free(int cores, int online, int others) {
    if (cores < 1) return 1;
    if (others < 0) others = 0;
    /* The host-wide count spread evenly over its CPUs, rounded to the nearest task. */
    if (online > cores) others = (int)(((long)others * cores + online / 2) / online);
    int free = cores - others;
    return free > 0 ? free : 1;
}

/* The runnable tasks now, this thread included, or -1 when /proc/loadavg cannot be read. */
static int running_now(void) {
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return -1;
    char text[LOADAVG_MAX];
    int running = fgets(text, sizeof text, f) ? uh_loadavg_running(text) : -1;
    fclose(f);
    return running;
}

void uh_cpu_share(uh_cpu_share_t *share) {
    int cores = omp_get_num_procs(); /* the affinity mask's count */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int fewest = -1;
    for (int i = 0; i < LOAD_SAMPLES; i++) {
        if (i) nanosleep(&(struct timespec){0, LOAD_SAMPLE_GAP_NS}, NULL);
        int running = running_now();
        if (running < 0) break;
        if (fewest < 0 || running < fewest) fewest = running;
    }
    share->cores = cores;
    /* The reading thread is runnable while it reads: it is not another task. */
    share->free = fewest < 0 ? cores : uh_cpu_free(cores, (int)online, fewest - 1);
}

int uh_threads_asked(int option) {
    if (option > 0) return option;
    /* The runtime parsed it ("4", or a nesting list "4,2"): its count for this level. */
    return getenv("OMP_NUM_THREADS") ? omp_get_max_threads() : 0;
}

void uh_threads_passive(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1)) return;
    execv("/proc/self/exe", argv);
    /* Still here: this runtime spins, so the environment should not say otherwise to the
     * programs this one starts. */
    unsetenv("OMP_WAIT_POLICY");
}
