/* Kernel-bound floors for one sweep of all processes, parsing nothing (what is left is the
 * kernel generating the texts plus the syscalls). Descriptors are kept open across sweeps, as
 * lagwatch does, up to RLIMIT_NOFILE (soft raised to hard); beyond it, open/read/close.
 *
 *   floor SWEEPS full         stat, status and io of every process
 *   floor SWEEPS incremental  lagwatch's rule (src/lagwatch/sources/procfs.py): a process
 *                             known to be single-threaded costs one read of schedstat when
 *                             that is unchanged; any other process (it ran, several threads,
 *                             new) gets stat, status and io (and schedstat first if new or
 *                             single-threaded)
 *
 * Prints the median sweep CPU time in ns, the process count, and how many reads of the last
 * sweep had to open and close their file because the descriptor limit was reached. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAXPID (1 << 22)
enum { STAT, STATUS, IO, SCHED, NFILES };
static const char *names[NFILES] = {"stat", "status", "io", "schedstat"};
static int fds[NFILES][MAXPID]; /* 0: not open; -1: the limit was reached, open per read */
static uint64_t last_sched[MAXPID];
static unsigned char single[MAXPID]; /* known single-threaded (schedstat decides) */
static unsigned char seen[MAXPID];
static int reopened;
/* Like lagwatch: keep descriptors up to the soft limit less a reserve, schedstat first (it is
 * read every sweep), the other files only while room is left for every process's schedstat. */
static long budget, kept, probes_kept, processes;
static int incremental;

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
    int fd = fds[f][pid];
    if (fd > 0) {
        ssize_t n = pread(fd, buf, size, 0);
        if (n < 0) { close(fd); fds[f][pid] = 0; kept--; if (f == SCHED) probes_kept--; }
        return n;
    }
    snprintf(path, sizeof path, "/proc/%d/%s", pid, names[f]);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = pread(fd, buf, size, 0);
    long room = f == SCHED || !incremental ? 0 : processes - probes_kept;
    if (kept + (room > 0 ? room : 0) < budget) {
        fds[f][pid] = fd;
        kept++;
        if (f == SCHED) probes_kept++;
    } else {
        close(fd); /* over the budget: open per read */
        reopened++;
    }
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
    incremental = argc > 2 && strcmp(argv[2], "incremental") == 0;
    long long *times = calloc(sweeps, sizeof *times);
    char buf[8192];
    int count = 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    long reserve = (long)rl.rlim_cur / 8;
    reserve = reserve < 256 ? 256 : reserve > 1024 ? 1024 : reserve;
    budget = (long)rl.rlim_cur - reserve;
    processes = 1 << 30; /* until the first sweep has counted them: keep schedstat first */
    for (int s = 0; s < sweeps + 2; s++) { /* two untimed sweeps open the descriptors */
        long long t0 = cpu_ns();
        DIR *d = opendir("/proc");
        struct dirent *e;
        count = 0;
        reopened = 0;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid >= MAXPID) continue;
            uint64_t hs = 0;
            if (incremental && (single[pid] || !seen[pid])) {
                ssize_t m = readf(SCHED, pid, buf, sizeof buf);
                hs = m < 0 ? 1 : fnv(buf, m);
                if (single[pid] && hs == last_sched[pid]) { count++; continue; } /* idle */
            }
            ssize_t n = readf(STAT, pid, buf, sizeof buf - 1);
            if (n < 0) continue;
            count++;
            if (incremental) {
                seen[pid] = 1;
                single[pid] = threads_of(buf, n) == 1;
                last_sched[pid] = hs;
                if (!single[pid] && fds[SCHED][pid] > 0) {
                    close(fds[SCHED][pid]);
                    fds[SCHED][pid] = 0;
                    kept--;
                    probes_kept--;
                }
            }
            readf(STATUS, pid, buf, sizeof buf);
            readf(IO, pid, buf, sizeof buf);
        }
        closedir(d);
        processes = count;
        if (s > 1) times[s - 2] = cpu_ns() - t0;
    }
    qsort(times, sweeps, sizeof *times, cmp);
    printf("%lld %d %d\n", times[sweeps / 2], count, reopened);
    return 0;
}
