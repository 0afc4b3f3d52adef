/* uhnas — threads that behave on a machine shared with other processes.
 *
 * OpenMP's default is one thread per core, each spinning at every barrier while it waits for
 * the others. When another process holds a core, the thread that shares it runs only in its
 * time slices and the rest spin through theirs: `uhnas train` ran 10-56x slower than on one
 * thread (issue 15). The cure is two-fold: waiting threads sleep (uh_threads_passive), and a
 * run uses only the cores no other task holds (uh_cpu_share). */
#ifndef UHNAS_THREADS_H
#define UHNAS_THREADS_H

/* The cores this process may run on and how many of them are free now. */
typedef struct {
    int cores; /* its affinity mask's cores */
    int free;  /* of those, the ones no other runnable task holds, at least 1 */
} uh_cpu_share_t;

/* Measures the share now. Call it before this process runs parallel work: its own busy
 * threads would count as other tasks. The other tasks are the kernel's count of runnable
 * tasks (/proc/loadavg), the fewest of a few samples a millisecond apart (a task that only
 * passes through is not a load), less this thread; when the host has more CPUs online than
 * this process may use (a container's cpuset), they are taken as spread evenly. Without
 * /proc, every core counts as free. */
void uh_cpu_share(uh_cpu_share_t *share);

/* The free cores when `others` runnable tasks of other processes run on a host with
 * `online` CPUs of which this process may use `cores`: a pure function, for the tests. */
int uh_cpu_free(int cores, int online, int others);

/* The number of runnable tasks in the text of /proc/loadavg ("0.30 1.18 1.78 2/92 23877"
 * has 2), or -1 when the text is not in that form. */
int uh_loadavg_running(const char *text);

/* The threads asked for: `option` when > 0 (a --threads N), else OMP_NUM_THREADS's count
 * when that is set, else 0 (none asked: the caller picks, uh_cpu_share's free cores). */
int uh_threads_asked(int option);

/* Makes OpenMP's waiting threads sleep instead of spin, unless the user chose a policy
 * (OMP_WAIT_POLICY or GOMP_SPINCOUNT set). The runtime (libgomp) reads its environment
 * when it is loaded, before main, so this sets OMP_WAIT_POLICY=passive and executes the
 * program again (/proc/self/exe, same argv and process id); call it first thing in main.
 * Returns only when there is nothing to do or the exec failed (no /proc): the program then
 * runs on, spinning. OpenBLAS's OpenMP build waits in the same runtime, so it follows. */
void uh_threads_passive(char **argv);

#endif
