/* Kernel-bound floors for one sweep of all processes, parsing nothing (what is left is the
 * kernel generating the texts plus the syscalls). Descriptors are kept open across sweeps, as
 * lagwatch does.
 *
 *   floor SWEEPS full         stat, status and io of every process
 *   floor SWEEPS incremental  lagwatch's rule: stat, plus schedstat when stat is unchanged and
 *                             the process has one thread; status and io only when either
 *                             changed (or the process has several threads)
 *
 * Prints the median sweep CPU time in ns and the process count. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXPID (1 << 22)
enum { STAT, STATUS, IO, SCHED, NFILES };
static const char *names[NFILES] = {"stat", "status", "io", "schedstat"};
static int fds[NFILES][MAXPID];
static uint64_t last_stat[MAXPID], last_sched[MAXPID];

static long long cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: robust to a busy machine */
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static uint64_t fnv(const char *p, ssize_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static ssize_t readf(int f, int pid, char *buf, size_t size) {
    char path[64];
    if (fds[f][pid] <= 0) {
        snprintf(path, sizeof path, "/proc/%d/%s", pid, names[f]);
        fds[f][pid] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[f][pid] < 0) { fds[f][pid] = 0; return -1; }
    }
    ssize_t n = pread(fds[f][pid], buf, size, 0);
    if (n < 0) { close(fds[f][pid]); fds[f][pid] = 0; }
    return n;
}

static int threads_of(const char *stat, ssize_t n) {
    const char *p = stat + n;
    while (p > stat && *p != ')') p--; /* the name may hold ')': the last one ends it */
    int field = 0;
    for (p++; p < stat + n; p++)
        if (*p == ' ' && ++field == 18) return atoi(p + 1);
    return 0;
}

int main(int argc, char **argv) {
    int sweeps = argc > 1 ? atoi(argv[1]) : 20;
    int incremental = argc > 2 && strcmp(argv[2], "incremental") == 0;
    long long *times = calloc(sweeps, sizeof *times);
    char buf[8192];
    int count = 0;
    for (int s = 0; s < sweeps + 2; s++) { /* two untimed sweeps open the descriptors */
        long long t0 = cpu_ns();
        DIR *d = opendir("/proc");
        struct dirent *e;
        count = 0;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid >= MAXPID) continue;
            ssize_t n = readf(STAT, pid, buf, sizeof buf - 1);
            if (n < 0) continue;
            count++;
            if (incremental) {
                uint64_t h = fnv(buf, n);
                int same = h == last_stat[pid] && threads_of(buf, n) == 1;
                last_stat[pid] = h;
                if (same) {
                    ssize_t m = readf(SCHED, pid, buf, sizeof buf);
                    uint64_t hs = m < 0 ? 0 : fnv(buf, m);
                    int idle = hs == last_sched[pid];
                    last_sched[pid] = hs;
                    if (idle) continue;
                }
            }
            readf(STATUS, pid, buf, sizeof buf);
            readf(IO, pid, buf, sizeof buf);
        }
        closedir(d);
        if (s > 1) times[s - 2] = cpu_ns() - t0;
    }
    qsort(times, sweeps, sizeof *times, cmp);
    printf("%lld %d\n", times[sweeps / 2], count);
    return 0;
}
