/*
 * A fake libSystem for lagwatch's tests: the libproc calls and sysctlbyname, behaving the way
 * XNU and libproc do (../shared/reference/macos-apis.md sections 1-2), over a process table the
 * test controls. Built by tests/fake_libsystem/__init__.py with `cc -shared`.
 *
 * Kernel behaviour reproduced:
 *  - proc_pid_rusage copies the full struct of the flavor (it never sees the caller's buffer),
 *    returns 0, or -1 with errno: ESRCH (no such pid), EPERM (another user's process and the
 *    caller is not root; checked before the flavor), EINVAL (flavor this "kernel" lacks).
 *    Zombies are reachable.
 *  - proc_pidinfo returns the bytes copied, or 0 with errno: EINVAL (unknown flavor), ENOMEM
 *    (buffer smaller than the struct), EOVERFLOW (path buffer > 4096), ESRCH, EPERM. Only
 *    SHORTBSDINFO, UNIQIDENTIFIERINFO and PATHINFO skip the same-user check; only BSD info,
 *    short BSD info and unique-id info reach zombies, and only when arg != 0.
 *  - proc_listallpids returns a pid *count* (nprocs + 20 for a NULL buffer), 0 on error.
 *  - proc_name needs >= 32 bytes (ENOMEM), reads TBSDINFO (so EPERM for other users), returns
 *    strlen of pbi_name, or of pbi_comm when pbi_name is empty.
 *  - proc_pidpath needs 1024..4096 bytes (ENOMEM / EOVERFLOW), returns strlen or 0.
 *  - sysctlbyname: hw.tbfrequency = 24000000 (8 bytes), hw.memsize, hw.logicalcpu (4 bytes),
 *    hw.optional.arm64; ENOENT for unknown names, ENOMEM for a short buffer.
 *  - responsibility_get_pid_responsible_for_pid(pid) (libSystem's private call, declared
 *    `pid_t f(pid_t)` by Chromium): the pid responsible for pid, the pid itself unless set;
 *    -1 for a pid that does not exist (lagwatch treats anything <= 0 as unknown).
 *
 * Control (for tests): fake_reset, fake_add, fake_set, fake_inc, fake_auto_inc, fake_remove,
 * fake_zombify, fake_set_uid, fake_set_responsible, fake_set_caller_uid, fake_set_short_read, fake_set_max_flavor, fake_set_sysctl, fake_count,
 * fake_load_table; and FAKE_LIBSYSTEM_TABLE=<file> loads a table when the library is loaded
 * (used when lagwatch runs as a subprocess).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXCOMLEN 16
#define MAXPATHLEN 1024
#define PROC_PIDPATHINFO_MAXSIZE (4 * MAXPATHLEN)

#define PROC_PIDTASKALLINFO 2
#define PROC_PIDTBSDINFO 3
#define PROC_PIDTASKINFO 4
#define PROC_PIDPATHINFO 11
#define PROC_PIDT_SHORTBSDINFO 13
#define PROC_PIDUNIQIDENTIFIERINFO 17

#define SZOMB 5

struct rusage_info_v6 {
    uint8_t ri_uuid[16];
    uint64_t ri_user_time;
    uint64_t ri_system_time;
    uint64_t ri_pkg_idle_wkups;
    uint64_t ri_interrupt_wkups;
    uint64_t ri_pageins;
    uint64_t ri_wired_size;
    uint64_t ri_resident_size;
    uint64_t ri_phys_footprint;
    uint64_t ri_proc_start_abstime;
    uint64_t ri_proc_exit_abstime;
    uint64_t ri_child_user_time;
    uint64_t ri_child_system_time;
    uint64_t ri_child_pkg_idle_wkups;
    uint64_t ri_child_interrupt_wkups;
    uint64_t ri_child_pageins;
    uint64_t ri_child_elapsed_abstime;
    uint64_t ri_diskio_bytesread;
    uint64_t ri_diskio_byteswritten;
    uint64_t ri_cpu_time_qos_default;
    uint64_t ri_cpu_time_qos_maintenance;
    uint64_t ri_cpu_time_qos_background;
    uint64_t ri_cpu_time_qos_utility;
    uint64_t ri_cpu_time_qos_legacy;
    uint64_t ri_cpu_time_qos_user_initiated;
    uint64_t ri_cpu_time_qos_user_interactive;
    uint64_t ri_billed_system_time;
    uint64_t ri_serviced_system_time;
    uint64_t ri_logical_writes;
    uint64_t ri_lifetime_max_phys_footprint;
    uint64_t ri_instructions;
    uint64_t ri_cycles;
    uint64_t ri_billed_energy;
    uint64_t ri_serviced_energy;
    uint64_t ri_interval_max_phys_footprint;
    uint64_t ri_runnable_time;
    uint64_t ri_flags;
    uint64_t ri_user_ptime;
    uint64_t ri_system_ptime;
    uint64_t ri_pinstructions;
    uint64_t ri_pcycles;
    uint64_t ri_energy_nj;
    uint64_t ri_penergy_nj;
    uint64_t ri_secure_time_in_system;
    uint64_t ri_secure_ptime_in_system;
    uint64_t ri_neural_footprint;
    uint64_t ri_lifetime_max_neural_footprint;
    uint64_t ri_interval_max_neural_footprint;
    uint64_t ri_reserved[9];
};

struct proc_bsdinfo {
    uint32_t pbi_flags;
    uint32_t pbi_status;
    uint32_t pbi_xstatus;
    uint32_t pbi_pid;
    uint32_t pbi_ppid;
    uint32_t pbi_uid;
    uint32_t pbi_gid;
    uint32_t pbi_ruid;
    uint32_t pbi_rgid;
    uint32_t pbi_svuid;
    uint32_t pbi_svgid;
    uint32_t rfu_1;
    char pbi_comm[MAXCOMLEN];
    char pbi_name[2 * MAXCOMLEN];
    uint32_t pbi_nfiles;
    uint32_t pbi_pgid;
    uint32_t pbi_pjobc;
    uint32_t e_tdev;
    uint32_t e_tpgid;
    int32_t pbi_nice;
    uint64_t pbi_start_tvsec;
    uint64_t pbi_start_tvusec;
};

struct proc_taskinfo {
    uint64_t pti_virtual_size;
    uint64_t pti_resident_size;
    uint64_t pti_total_user;
    uint64_t pti_total_system;
    uint64_t pti_threads_user;
    uint64_t pti_threads_system;
    int32_t pti_policy;
    int32_t pti_faults;
    int32_t pti_pageins;
    int32_t pti_cow_faults;
    int32_t pti_messages_sent;
    int32_t pti_messages_received;
    int32_t pti_syscalls_mach;
    int32_t pti_syscalls_unix;
    int32_t pti_csw;
    int32_t pti_threadnum;
    int32_t pti_numrunning;
    int32_t pti_priority;
};

struct proc_taskallinfo {
    struct proc_bsdinfo pbsd;
    struct proc_taskinfo ptinfo;
};

struct proc_bsdshortinfo {
    uint32_t pbsi_pid;
    uint32_t pbsi_ppid;
    uint32_t pbsi_pgid;
    uint32_t pbsi_status;
    char pbsi_comm[MAXCOMLEN];
    uint32_t pbsi_flags;
    uint32_t pbsi_uid;
    uint32_t pbsi_gid;
    uint32_t pbsi_ruid;
    uint32_t pbsi_rgid;
    uint32_t pbsi_svuid;
    uint32_t pbsi_svgid;
    uint32_t pbsi_rfu;
};

struct proc_uniqidentifierinfo {
    uint8_t p_uuid[16];
    uint64_t p_uniqueid;
    uint64_t p_puniqueid;
    int32_t p_idversion;
    int32_t p_orig_ppidversion;
    uint64_t p_reserve2;
    uint64_t p_reserve3;
};

/* Bytes the kernel copies for each rusage flavor: up to the first field of the next one. */
static const size_t rusage_size[7] = {
    offsetof(struct rusage_info_v6, ri_child_user_time),
    offsetof(struct rusage_info_v6, ri_diskio_bytesread),
    offsetof(struct rusage_info_v6, ri_cpu_time_qos_default),
    offsetof(struct rusage_info_v6, ri_logical_writes),
    offsetof(struct rusage_info_v6, ri_flags),
    offsetof(struct rusage_info_v6, ri_user_ptime),
    sizeof(struct rusage_info_v6),
};

/* ---- the process table --------------------------------------------------------------------- */

enum where { RU, BSD, TASK };

struct field {
    const char *name;
    enum where where;
    size_t off;
    size_t size;
};

#define F_RU(f) {#f, RU, offsetof(struct rusage_info_v6, f), sizeof(((struct rusage_info_v6 *)0)->f)}
#define F_BSD(f) {#f, BSD, offsetof(struct proc_bsdinfo, f), sizeof(((struct proc_bsdinfo *)0)->f)}
#define F_TASK(f) {#f, TASK, offsetof(struct proc_taskinfo, f), sizeof(((struct proc_taskinfo *)0)->f)}

static const struct field fields[] = {
    F_RU(ri_user_time), F_RU(ri_system_time), F_RU(ri_pkg_idle_wkups), F_RU(ri_interrupt_wkups),
    F_RU(ri_pageins), F_RU(ri_wired_size), F_RU(ri_resident_size), F_RU(ri_phys_footprint),
    F_RU(ri_proc_start_abstime), F_RU(ri_proc_exit_abstime), F_RU(ri_child_user_time),
    F_RU(ri_child_system_time), F_RU(ri_child_pkg_idle_wkups), F_RU(ri_child_interrupt_wkups),
    F_RU(ri_child_pageins), F_RU(ri_child_elapsed_abstime), F_RU(ri_diskio_bytesread),
    F_RU(ri_diskio_byteswritten), F_RU(ri_cpu_time_qos_default),
    F_RU(ri_cpu_time_qos_maintenance), F_RU(ri_cpu_time_qos_background),
    F_RU(ri_cpu_time_qos_utility), F_RU(ri_cpu_time_qos_legacy),
    F_RU(ri_cpu_time_qos_user_initiated), F_RU(ri_cpu_time_qos_user_interactive),
    F_RU(ri_billed_system_time), F_RU(ri_serviced_system_time), F_RU(ri_logical_writes),
    F_RU(ri_lifetime_max_phys_footprint), F_RU(ri_instructions), F_RU(ri_cycles),
    F_RU(ri_billed_energy), F_RU(ri_serviced_energy), F_RU(ri_interval_max_phys_footprint),
    F_RU(ri_runnable_time), F_RU(ri_flags), F_RU(ri_user_ptime), F_RU(ri_system_ptime),
    F_RU(ri_pinstructions), F_RU(ri_pcycles), F_RU(ri_energy_nj), F_RU(ri_penergy_nj),
    F_RU(ri_secure_time_in_system), F_RU(ri_secure_ptime_in_system), F_RU(ri_neural_footprint),
    F_RU(ri_lifetime_max_neural_footprint), F_RU(ri_interval_max_neural_footprint),
    F_BSD(pbi_flags), F_BSD(pbi_status), F_BSD(pbi_xstatus), F_BSD(pbi_ppid), F_BSD(pbi_uid),
    F_BSD(pbi_gid), F_BSD(pbi_nfiles), F_BSD(pbi_pgid), F_BSD(pbi_nice),
    F_BSD(pbi_start_tvsec), F_BSD(pbi_start_tvusec),
    F_TASK(pti_virtual_size), F_TASK(pti_resident_size), F_TASK(pti_total_user),
    F_TASK(pti_total_system), F_TASK(pti_threads_user), F_TASK(pti_threads_system),
    F_TASK(pti_policy), F_TASK(pti_faults), F_TASK(pti_pageins), F_TASK(pti_cow_faults),
    F_TASK(pti_messages_sent), F_TASK(pti_messages_received), F_TASK(pti_syscalls_mach),
    F_TASK(pti_syscalls_unix), F_TASK(pti_csw), F_TASK(pti_threadnum), F_TASK(pti_numrunning),
    F_TASK(pti_priority),
};

#define MAXPROCS 8192
#define MAXINC 16

struct inc {
    const struct field *field;
    uint64_t delta;
};

struct fake_proc {
    int used;
    int zombie;
    uint32_t uid;
    uint64_t uniqueid;
    char path[MAXPATHLEN];
    struct rusage_info_v6 ru;
    struct proc_bsdinfo bsd;
    struct proc_taskinfo task;
    struct inc auto_inc[MAXINC];
    int n_auto;
    int responsible; /* 0: the process is responsible for itself */
};

static struct fake_proc procs[MAXPROCS];
/* pid -> slot + 1, so a lookup costs what the kernel's hash lookup costs (benchmarks). */
#define MAXPID 100000
static int slot_of[MAXPID];
static int nprocs;
static uint32_t caller_uid = 501;
static int max_flavor = 6;
static uint64_t next_uniqueid = 1000;
static int short_read; /* > 0: proc_pidinfo claims to copy only this many bytes */

struct sysctl_entry {
    char name[64];
    uint64_t value;
    int width; /* 0: absent */
};

#define NSYSCTL 16
static struct sysctl_entry sysctls[NSYSCTL];

/* Call counters, for tests that check how often the binding asks. */
static long n_listallpids, n_pidinfo, n_rusage, n_rusage_einval, n_name, n_path, n_sysctl;
static long last_rusage_bytes;

static int set_sysctl(const char *name, uint64_t value, int width) {
    int free_slot = -1;
    for (int i = 0; i < NSYSCTL; i++) {
        if (sysctls[i].width && strcmp(sysctls[i].name, name) == 0) {
            sysctls[i].value = value;
            sysctls[i].width = width;
            return 0;
        }
        if (!sysctls[i].width && free_slot < 0) free_slot = i;
    }
    if (width == 0) return 0;
    if (free_slot < 0) return -1;
    snprintf(sysctls[free_slot].name, sizeof sysctls[free_slot].name, "%s", name);
    sysctls[free_slot].value = value;
    sysctls[free_slot].width = width;
    return 0;
}

void fake_reset(void) {
    memset(procs, 0, sizeof procs);
    memset(slot_of, 0, sizeof slot_of);
    memset(sysctls, 0, sizeof sysctls);
    nprocs = 0;
    caller_uid = 501;
    max_flavor = 6;
    next_uniqueid = 1000;
    short_read = 0;
    n_listallpids = n_pidinfo = n_rusage = n_rusage_einval = n_name = n_path = n_sysctl = 0;
    last_rusage_bytes = 0;
    set_sysctl("hw.tbfrequency", 24000000, 8);
    set_sysctl("hw.memsize", 16ULL << 30, 8);
    set_sysctl("hw.logicalcpu", 8, 4);
    set_sysctl("hw.optional.arm64", 1, 4);
}

static struct fake_proc *find(int pid, int allow_zombie) {
    if (pid < 0 || pid >= MAXPID || slot_of[pid] == 0) return NULL;
    struct fake_proc *p = &procs[slot_of[pid] - 1];
    if (!p->used || (int)p->bsd.pbi_pid != pid || (!allow_zombie && p->zombie)) return NULL;
    return p;
}

static const struct field *field_named(const char *name) {
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(fields[i].name, name) == 0) return &fields[i];
    return NULL;
}

static void *field_ptr(struct fake_proc *p, const struct field *f) {
    char *base = f->where == RU ? (char *)&p->ru : f->where == BSD ? (char *)&p->bsd : (char *)&p->task;
    return base + f->off;
}

static uint64_t field_get(struct fake_proc *p, const struct field *f) {
    void *ptr = field_ptr(p, f);
    if (f->size == 8) return *(uint64_t *)ptr;
    return *(uint32_t *)ptr;
}

static void field_put(struct fake_proc *p, const struct field *f, uint64_t value) {
    void *ptr = field_ptr(p, f);
    if (f->size == 8)
        *(uint64_t *)ptr = value;
    else
        *(uint32_t *)ptr = (uint32_t)value;
}

int fake_add(int pid, uint32_t uid, uint32_t ppid, uint32_t status, const char *comm,
             const char *name, const char *path, uint64_t start_abstime) {
    if (pid < 0 || pid >= MAXPID) return -1;
    struct fake_proc *p = find(pid, 1);
    if (p == NULL) {
        for (int i = 0; i < nprocs; i++)
            if (!procs[i].used) { p = &procs[i]; break; }
    }
    if (p == NULL) {
        if (nprocs >= MAXPROCS) return -1;
        p = &procs[nprocs++];
    }
    memset(p, 0, sizeof *p);
    slot_of[pid] = (int)(p - procs) + 1;
    p->used = 1;
    p->uid = uid;
    p->uniqueid = next_uniqueid++;
    snprintf(p->path, sizeof p->path, "%s", path ? path : "");
    p->bsd.pbi_pid = (uint32_t)pid;
    p->bsd.pbi_ppid = ppid;
    p->bsd.pbi_uid = uid;
    p->bsd.pbi_ruid = uid;
    p->bsd.pbi_status = status;
    /* The kernel keeps 15 + NUL and 31 + NUL. */
    snprintf(p->bsd.pbi_comm, sizeof p->bsd.pbi_comm, "%s", comm ? comm : "");
    snprintf(p->bsd.pbi_name, sizeof p->bsd.pbi_name, "%s", name ? name : "");
    p->ru.ri_proc_start_abstime = start_abstime;
    p->task.pti_threadnum = 1;
    return 0;
}

int fake_set(int pid, const char *name, uint64_t value) {
    struct fake_proc *p = find(pid, 1);
    const struct field *f = field_named(name);
    if (p == NULL || f == NULL) return -1;
    field_put(p, f, value);
    return 0;
}

int fake_inc(int pid, const char *name, uint64_t delta) {
    struct fake_proc *p = find(pid, 1);
    const struct field *f = field_named(name);
    if (p == NULL || f == NULL) return -1;
    field_put(p, f, field_get(p, f) + delta);
    return 0;
}

/* Added to the field at every proc_listallpids call (one call per sampler tick). */
int fake_auto_inc(int pid, const char *name, uint64_t delta) {
    struct fake_proc *p = find(pid, 1);
    const struct field *f = field_named(name);
    if (p == NULL || f == NULL || p->n_auto >= MAXINC) return -1;
    p->auto_inc[p->n_auto].field = f;
    p->auto_inc[p->n_auto].delta = delta;
    p->n_auto++;
    return 0;
}

int fake_remove(int pid) {
    struct fake_proc *p = find(pid, 1);
    if (p == NULL) return -1;
    p->used = 0;
    return 0;
}

int fake_zombify(int pid) {
    struct fake_proc *p = find(pid, 1);
    if (p == NULL) return -1;
    p->zombie = 1;
    p->bsd.pbi_status = SZOMB;
    return 0;
}

/* The process changes user (setuid): the permission check and the BSD info follow. */
int fake_set_uid(int pid, uint32_t uid) {
    struct fake_proc *p = find(pid, 1);
    if (p == NULL) return -1;
    p->uid = uid;
    p->bsd.pbi_uid = uid;
    return 0;
}

int fake_set_responsible(int pid, int responsible) {
    struct fake_proc *p = find(pid, 1);
    if (p == NULL) return -1;
    p->responsible = responsible;
    return 0;
}

void fake_set_caller_uid(uint32_t uid) { caller_uid = uid; }
/* An older or newer kernel whose struct is smaller than ours: proc_pidinfo returns fewer bytes. */
void fake_set_short_read(int bytes) { short_read = bytes; }
void fake_set_max_flavor(int flavor) { max_flavor = flavor; }
int fake_set_sysctl(const char *name, uint64_t value, int width) { return set_sysctl(name, value, width); }
uint64_t fake_unique_id(int pid) {
    struct fake_proc *p = find(pid, 1);
    return p ? p->uniqueid : 0;
}

long fake_count(const char *what) {
    if (strcmp(what, "listallpids") == 0) return n_listallpids;
    if (strcmp(what, "pidinfo") == 0) return n_pidinfo;
    if (strcmp(what, "rusage") == 0) return n_rusage;
    if (strcmp(what, "rusage_einval") == 0) return n_rusage_einval;
    if (strcmp(what, "name") == 0) return n_name;
    if (strcmp(what, "path") == 0) return n_path;
    if (strcmp(what, "sysctl") == 0) return n_sysctl;
    if (strcmp(what, "last_rusage_bytes") == 0) return last_rusage_bytes;
    return -1;
}

/*
 * A table file, one command per line ('#' starts a comment):
 *   caller_uid UID | max_flavor N | sysctl NAME VALUE WIDTH
 *   proc PID UID PPID STATUS START_ABSTIME COMM NAME PATH   (NAME "-" = empty; no spaces)
 *   set PID FIELD VALUE | auto PID FIELD DELTA | zombie PID | responsible PID RPID
 */
int fake_load_table(const char *path) {
    FILE *fh = fopen(path, "r");
    if (fh == NULL) return -1;
    char line[2048];
    int lineno = 0;
    while (fgets(line, sizeof line, fh)) {
        lineno++;
        char cmd[32], a[256], b[256], c[1100];
        unsigned long long x, y, z, w;
        int pid;
        if (sscanf(line, "%31s", cmd) != 1 || cmd[0] == '#') continue;
        if (strcmp(cmd, "caller_uid") == 0 && sscanf(line, "%*s %llu", &x) == 1) {
            caller_uid = (uint32_t)x;
        } else if (strcmp(cmd, "max_flavor") == 0 && sscanf(line, "%*s %llu", &x) == 1) {
            max_flavor = (int)x;
        } else if (strcmp(cmd, "sysctl") == 0 && sscanf(line, "%*s %255s %llu %llu", a, &x, &y) == 3) {
            set_sysctl(a, x, (int)y);
        } else if (strcmp(cmd, "proc") == 0 &&
                   sscanf(line, "%*s %d %llu %llu %llu %llu %255s %255s %1099s", &pid, &x, &y, &z, &w,
                          a, b, c) == 8) {
            fake_add(pid, (uint32_t)x, (uint32_t)y, (uint32_t)z, a, strcmp(b, "-") ? b : "", c, w);
        } else if (strcmp(cmd, "set") == 0 && sscanf(line, "%*s %d %255s %llu", &pid, a, &x) == 3) {
            if (fake_set(pid, a, x) != 0) goto bad;
        } else if (strcmp(cmd, "auto") == 0 && sscanf(line, "%*s %d %255s %llu", &pid, a, &x) == 3) {
            if (fake_auto_inc(pid, a, x) != 0) goto bad;
        } else if (strcmp(cmd, "zombie") == 0 && sscanf(line, "%*s %d", &pid) == 1) {
            fake_zombify(pid);
        } else if (strcmp(cmd, "responsible") == 0 && sscanf(line, "%*s %d %llu", &pid, &x) == 2) {
            if (fake_set_responsible(pid, (int)x) != 0) goto bad;
        } else {
            goto bad;
        }
        continue;
    bad:
        fprintf(stderr, "fake_libsystem: %s:%d: cannot read: %s", path, lineno, line);
        fclose(fh);
        return -1;
    }
    fclose(fh);
    return 0;
}

__attribute__((constructor)) static void fake_init(void) {
    fake_reset();
    const char *table = getenv("FAKE_LIBSYSTEM_TABLE");
    if (table != NULL && *table) fake_load_table(table);
}

/* ---- libproc -------------------------------------------------------------------------------- */

int proc_listallpids(void *buffer, int buffersize) {
    n_listallpids++;
    for (int i = 0; i < nprocs; i++) {
        struct fake_proc *p = &procs[i];
        if (!p->used) continue;
        for (int k = 0; k < p->n_auto; k++)
            field_put(p, p->auto_inc[k].field, field_get(p, p->auto_inc[k].field) + p->auto_inc[k].delta);
    }
    int live = 0;
    for (int i = 0; i < nprocs; i++) live += procs[i].used;
    if (buffersize < 0) {
        errno = EINVAL;
        return 0; /* proc_listpids reports errors as 0 bytes, so the count is 0 */
    }
    if (buffer == NULL) return live + 20;
    int cap = buffersize / (int)sizeof(int), n = 0;
    int *out = buffer;
    for (int i = 0; i < nprocs && n < cap; i++)
        if (procs[i].used) out[n++] = (int)procs[i].bsd.pbi_pid;
    return n;
}

static int fail(int err) {
    errno = err;
    return 0;
}

int proc_pidinfo(int pid, int flavor, uint64_t arg, void *buffer, int buffersize) {
    n_pidinfo++;
    int size, check_same_user = 1, findzomb = 0;
    switch (flavor) {
    case PROC_PIDTASKALLINFO: size = sizeof(struct proc_taskallinfo); break;
    case PROC_PIDTBSDINFO: size = sizeof(struct proc_bsdinfo); findzomb = arg != 0; break;
    case PROC_PIDTASKINFO: size = sizeof(struct proc_taskinfo); break;
    case PROC_PIDPATHINFO: size = MAXPATHLEN; check_same_user = 0; break;
    case PROC_PIDT_SHORTBSDINFO:
        size = sizeof(struct proc_bsdshortinfo); check_same_user = 0; findzomb = arg != 0; break;
    case PROC_PIDUNIQIDENTIFIERINFO:
        size = sizeof(struct proc_uniqidentifierinfo); check_same_user = 0; findzomb = arg != 0; break;
    default: return fail(EINVAL);
    }
    if (buffersize < size) return fail(ENOMEM);
    if (flavor == PROC_PIDPATHINFO && buffersize > PROC_PIDPATHINFO_MAXSIZE) return fail(EOVERFLOW);
    struct fake_proc *p = find(pid, findzomb);
    if (p == NULL) return fail(ESRCH);
    if (check_same_user && caller_uid != 0 && p->uid != caller_uid) return fail(EPERM);
    if (short_read > 0 && short_read < size && flavor != PROC_PIDPATHINFO) {
        memset(buffer, 0, (size_t)short_read);
        return short_read;
    }

    switch (flavor) {
    case PROC_PIDTASKALLINFO: {
        struct proc_taskallinfo all;
        all.pbsd = p->bsd;
        all.ptinfo = p->task;
        memcpy(buffer, &all, sizeof all);
        return sizeof all;
    }
    case PROC_PIDTBSDINFO:
        memcpy(buffer, &p->bsd, sizeof p->bsd);
        return sizeof p->bsd;
    case PROC_PIDTASKINFO:
        memcpy(buffer, &p->task, sizeof p->task);
        return sizeof p->task;
    case PROC_PIDPATHINFO: {
        size_t len = strlen(p->path);
        if (len == 0) return fail(ESRCH);
        memcpy(buffer, p->path, len + 1);
        return (int)len + 1;
    }
    case PROC_PIDT_SHORTBSDINFO: {
        struct proc_bsdshortinfo s;
        memset(&s, 0, sizeof s);
        s.pbsi_pid = p->bsd.pbi_pid;
        s.pbsi_ppid = p->bsd.pbi_ppid;
        s.pbsi_pgid = p->bsd.pbi_pgid;
        s.pbsi_status = p->bsd.pbi_status;
        memcpy(s.pbsi_comm, p->bsd.pbi_comm, MAXCOMLEN);
        s.pbsi_flags = p->bsd.pbi_flags;
        s.pbsi_uid = p->bsd.pbi_uid;
        s.pbsi_ruid = p->bsd.pbi_ruid;
        memcpy(buffer, &s, sizeof s);
        return sizeof s;
    }
    case PROC_PIDUNIQIDENTIFIERINFO: {
        struct proc_uniqidentifierinfo u;
        memset(&u, 0, sizeof u);
        u.p_uniqueid = p->uniqueid;
        memcpy(buffer, &u, sizeof u);
        return sizeof u;
    }
    }
    return fail(EINVAL);
}

int proc_pid_rusage(int pid, int flavor, void *buffer) {
    n_rusage++;
    struct fake_proc *p = find(pid, 1); /* proc_find_zombref: zombies have rusage */
    if (p == NULL) { errno = ESRCH; return -1; }
    if (caller_uid != 0 && p->uid != caller_uid) { errno = EPERM; return -1; }
    if (flavor < 0 || flavor > max_flavor || flavor > 6) {
        n_rusage_einval++;
        errno = EINVAL;
        return -1;
    }
    /* The whole struct of the flavor, whatever the caller allocated. */
    memcpy(buffer, &p->ru, rusage_size[flavor]);
    last_rusage_bytes = (long)rusage_size[flavor];
    return 0;
}

int proc_name(int pid, void *buffer, uint32_t buffersize) {
    n_name++;
    struct proc_bsdinfo pbsd;
    if (buffersize < sizeof(pbsd.pbi_name)) return fail(ENOMEM);
    if (proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, &pbsd, sizeof pbsd) == 0) return 0;
    if (pbsd.pbi_name[0])
        memcpy(buffer, pbsd.pbi_name, sizeof pbsd.pbi_name);
    else
        memcpy(buffer, pbsd.pbi_comm, sizeof pbsd.pbi_comm);
    return (int)strlen(buffer);
}

int proc_pidpath(int pid, void *buffer, uint32_t buffersize) {
    n_path++;
    if (buffersize < MAXPATHLEN) return fail(ENOMEM);
    if (buffersize > PROC_PIDPATHINFO_MAXSIZE) return fail(EOVERFLOW);
    if (proc_pidinfo(pid, PROC_PIDPATHINFO, 0, buffer, (int)buffersize) == 0) return 0;
    return (int)strlen(buffer);
}

/* ---- responsibility (libquarantine, re-exported by libSystem) ------------------------------- */

int responsibility_get_pid_responsible_for_pid(int pid) {
    struct fake_proc *p = find(pid, 1);
    if (p == NULL) return -1;
    return p->responsible ? p->responsible : pid;
}

/* ---- sysctl --------------------------------------------------------------------------------- */

int sysctlbyname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    (void)newlen;
    n_sysctl++;
    for (int i = 0; i < NSYSCTL; i++) {
        struct sysctl_entry *e = &sysctls[i];
        if (!e->width || strcmp(e->name, name) != 0) continue;
        if (newp != NULL) { errno = EPERM; return -1; }
        if (oldlenp == NULL) { errno = EINVAL; return -1; }
        if (oldp == NULL) { *oldlenp = (size_t)e->width; return 0; }
        if (*oldlenp < (size_t)e->width) { errno = ENOMEM; return -1; }
        if (e->width == 8) {
            memcpy(oldp, &e->value, 8);
        } else {
            uint32_t v = (uint32_t)e->value;
            memcpy(oldp, &v, 4);
        }
        *oldlenp = (size_t)e->width;
        return 0;
    }
    errno = ENOENT;
    return -1;
}
