/*
 * The fake IOKit + CoreFoundation (../fake_iokit/fake_iokit.c, compiled in whole) made usable
 * by lagwatch running as a subprocess: the Mac-in-a-box (docs/development.md).
 *
 *  - FAKE_IOKIT_REGISTRY=<file> builds the registry when the library is loaded, from lines:
 *      entry LABEL CLASSES PARENT registered|unregistered   CLASSES "Class,Superclass,...";
 *                                                            PARENT a label or "-"
 *      prop LABEL "KEY" VALUE                                VALUE: "text" (\" and \\ escaped),
 *                                                            an integer, a float (has . or e),
 *                                                            true, false, data:HEX,
 *                                                            ( VALUE ... ), { "KEY" VALUE ... }
 *      auto LABEL PATH DELTA                                 every registry read (each
 *                                                            IOServiceGetMatchingServices call)
 *                                                            adds DELTA to the number at PATH,
 *                                                            e.g. AppUsage/0/accumulatedGPUTime
 *    A line it cannot read is reported on stderr and counted as an error.
 *  - FAKE_IOKIT_REPORT=<file> receives, after every registry read and at exit, one line of
 *    JSON: the errors counted (misuse: releasing what the caller does not hold, using a freed
 *    object, ...), the io_object_t handles and CF references the caller holds, and of those
 *    CF references the ones that are not strings it made itself (CFStringCreateWithCString:
 *    the property names a binding may keep for its lifetime), now and at most as any read
 *    began (once it consumed its matching dictionary). That count stays 0 unless property
 *    values or matching dictionaries leak.
 */
#define IOServiceGetMatchingServices fake_box_inner_matching_services
#define CFStringCreateWithCString fake_box_inner_string_create
#include "../fake_iokit/fake_iokit.c"
#undef IOServiceGetMatchingServices
#undef CFStringCreateWithCString

#include <ctype.h>

#define MAX_LABELS 256
#define MAX_AUTOS 64

static struct {
    char name[64];
    uint32_t id;
} labels[MAX_LABELS];
static int n_labels;

static struct {
    uint32_t id;
    char path[256];
    int64_t delta;
} autos[MAX_AUTOS];
static int n_autos;

static long box_reads, box_other_max;
static const char *box_report_path;
static obj **created; /* every string the caller made */
static long n_created, cap_created;

obj *CFStringCreateWithCString(void *alloc, const char *s, uint32_t encoding) {
    obj *o = fake_box_inner_string_create(alloc, s, encoding);
    if (n_created == cap_created) {
        cap_created = cap_created ? 2 * cap_created : 64;
        created = realloc(created, cap_created * sizeof *created);
    }
    created[n_created++] = o;
    return o;
}

/* References the caller holds other than to strings it made itself. */
static long other_outstanding(void) {
    long held = cf_outstanding;
    for (long i = 0; i < n_created; i++) held -= created[i]->handed;
    return held;
}

static uint32_t label_id(const char *name) {
    for (int i = 0; i < n_labels; i++)
        if (strcmp(labels[i].name, name) == 0) return labels[i].id;
    return 0;
}

/* ---- values --------------------------------------------------------------------------------- */

static const char *skip_ws(const char *p) {
    while (*p && isspace((unsigned char)*p)) p++;
    return p;
}

/* A quoted string into a new buffer; *end after the closing quote. NULL when malformed. */
static char *read_string(const char *p, const char **end) {
    if (*p != '"') return NULL;
    size_t cap = strlen(p) + 1, n = 0;
    char *out = malloc(cap);
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
        out[n++] = *p;
    }
    if (*p != '"') {
        free(out);
        return NULL;
    }
    out[n] = 0;
    *end = p + 1;
    return out;
}

static obj *read_value(const char *p, const char **end) {
    p = skip_ws(p);
    if (*p == '"') {
        char *s = read_string(p, end);
        if (s == NULL) return NULL;
        obj *o = fake_cf_string(s);
        free(s);
        return o;
    }
    if (*p == '(' || *p == '{') {
        int is_dict = *p == '{';
        char close = is_dict ? '}' : ')';
        obj *c = is_dict ? fake_cf_dict() : fake_cf_array();
        p = skip_ws(p + 1);
        while (*p && *p != close) {
            obj *key = NULL;
            if (is_dict) {
                char *k = read_string(p, &p);
                if (k == NULL) return NULL;
                key = fake_cf_string(k);
                free(k);
            }
            obj *v = read_value(p, &p);
            if (v == NULL) return NULL;
            if (is_dict)
                fake_cf_set(c, key, v);
            else
                fake_cf_append(c, v);
            p = skip_ws(p);
        }
        if (*p != close) return NULL;
        *end = p + 1;
        return c;
    }
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
        int yes = *p == 't';
        *end = p + (yes ? 4 : 5);
        return fake_cf_bool(yes);
    }
    if (strncmp(p, "data:", 5) == 0) {
        p += 5;
        const char *q = p;
        while (isxdigit((unsigned char)*q)) q++;
        long len = (long)(q - p) / 2;
        char *bytes = malloc(len ? len : 1);
        for (long i = 0; i < len; i++) {
            unsigned int byte;
            sscanf(p + 2 * i, "%2x", &byte);
            bytes[i] = (char)byte;
        }
        obj *o = fake_cf_data(bytes, len);
        free(bytes);
        *end = q;
        return o;
    }
    char *stop;
    const char *q = p;
    while (*q && !isspace((unsigned char)*q) && *q != ')' && *q != '}') q++;
    if (memchr(p, '.', (size_t)(q - p)) || memchr(p, 'e', (size_t)(q - p))) {
        double f = strtod(p, &stop);
        if (stop != q) return NULL;
        *end = q;
        return fake_cf_float(f);
    }
    long long i = strtoll(p, &stop, 10);
    if (stop != q || q == p) return NULL;
    *end = q;
    return fake_cf_int((int64_t)i);
}

/* ---- auto increments ------------------------------------------------------------------------ */

static obj *lookup(obj *container, const char *part) {
    if (container == NULL) return NULL;
    if (container->type == T_ARRAY) {
        long i = strtol(part, NULL, 10);
        return i >= 0 && i < container->count ? container->values[i] : NULL;
    }
    if (container->type == T_DICT)
        for (long i = 0; i < container->count; i++)
            if (container->keys[i]->type == T_STRING && strcmp(container->keys[i]->bytes, part) == 0)
                return container->values[i];
    return NULL;
}

static void apply_autos(void) {
    for (int a = 0; a < n_autos; a++) {
        char copy[256];
        snprintf(copy, sizeof copy, "%s", autos[a].path);
        obj *o = entries[autos[a].id].props;
        for (char *save = NULL, *tok = strtok_r(copy, "/", &save); tok && o;
             tok = strtok_r(NULL, "/", &save))
            o = lookup(o, tok);
        if (o == NULL || o->type != T_NUMBER || o->is_float) {
            misuse("auto: no integer at the path");
            continue;
        }
        o->i += autos[a].delta;
    }
}

/* ---- report --------------------------------------------------------------------------------- */

static void write_report(void) {
    if (box_report_path == NULL) return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", box_report_path);
    FILE *fh = fopen(tmp, "w");
    if (fh == NULL) return;
    long other = other_outstanding();
    if (other > box_other_max) box_other_max = other;
    fprintf(fh,
            "{\"reads\": %ld, \"errors\": %ld, \"last_error\": \"%s\", \"cf_outstanding\": %ld, "
            "\"io_outstanding\": %ld, \"cf_other_outstanding\": %ld, "
            "\"cf_other_outstanding_max\": %ld}\n",
            box_reads, errors, last_error, cf_outstanding, fake_io_outstanding(), other,
            box_other_max);
    fclose(fh);
    rename(tmp, box_report_path);
}

int IOServiceGetMatchingServices(uint32_t port, obj *matching, uint32_t *existing) {
    box_reads++;
    apply_autos();
    int rc = fake_box_inner_matching_services(port, matching, existing);
    /* The matching dictionary is consumed: what the caller still holds as a read begins is
       what earlier reads left behind (write_report keeps the maximum). */
    write_report();
    return rc;
}

/* ---- loading -------------------------------------------------------------------------------- */

static void load_registry(const char *path) {
    FILE *fh = fopen(path, "r");
    if (fh == NULL) {
        misuse("FAKE_IOKIT_REGISTRY cannot be opened");
        return;
    }
    char line[65536];
    int lineno = 0;
    while (fgets(line, sizeof line, fh)) {
        lineno++;
        char cmd[16], a[64], b[256], c[64], d[16];
        const char *p = skip_ws(line);
        if (*p == 0 || *p == '#') continue;
        int ok = 0, used = 0;
        if (sscanf(p, "%15s", cmd) != 1) continue;
        if (strcmp(cmd, "entry") == 0 && sscanf(p, "%*s %63s %255s %63s %15s", a, b, c, d) == 4 &&
            n_labels < MAX_LABELS) {
            uint32_t parent = strcmp(c, "-") == 0 ? 0 : label_id(c);
            uint32_t id = fake_io_add(parent, b, strcmp(d, "registered") == 0);
            if (id != 0 && (parent != 0 || strcmp(c, "-") == 0)) {
                snprintf(labels[n_labels].name, sizeof labels[n_labels].name, "%s", a);
                labels[n_labels++].id = id;
                ok = 1;
            }
        } else if (strcmp(cmd, "prop") == 0 && sscanf(p, "%*s %63s %n", a, &used) == 1 && used) {
            uint32_t id = label_id(a);
            const char *q = skip_ws(p + used), *end;
            char *key = read_string(q, &end);
            if (id != 0 && key != NULL) {
                obj *value = read_value(end, &end);
                if (value != NULL && *skip_ws(end) == 0) {
                    fake_io_set(id, key, value);
                    ok = 1;
                }
            }
            free(key);
        } else if (strcmp(cmd, "auto") == 0 && n_autos < MAX_AUTOS) {
            long long delta;
            if (sscanf(p, "%*s %63s %255s %lld", a, b, &delta) == 3 && label_id(a) != 0) {
                autos[n_autos].id = label_id(a);
                snprintf(autos[n_autos].path, sizeof autos[n_autos].path, "%s", b);
                autos[n_autos++].delta = delta;
                ok = 1;
            }
        }
        if (!ok) {
            fprintf(stderr, "fake_iokit_box: %s:%d: cannot read: %s", path, lineno, line);
            misuse("FAKE_IOKIT_REGISTRY has a line it cannot read");
        }
    }
    fclose(fh);
}

__attribute__((constructor)) static void fake_box_init(void) {
    fake_reset();
    box_report_path = getenv("FAKE_IOKIT_REPORT");
    if (box_report_path != NULL && *box_report_path == 0) box_report_path = NULL;
    const char *registry = getenv("FAKE_IOKIT_REGISTRY");
    if (registry != NULL && *registry) load_registry(registry);
    write_report();
}

__attribute__((destructor)) static void fake_box_fini(void) { write_report(); }
