/*
 * A fake of the slice of IOKit and CoreFoundation that lagwatch binds (src/lagwatch/sources/
 * iokit.py), for tests on any OS: one library stands in for both frameworks. Built by
 * tests/fake_iokit/__init__.py with `cc -shared`.
 *
 * Behaviour reproduced (IOKitLib.h, CoreFoundation's ownership rules; reference section 4):
 *  - Create rule: CFStringCreateWithCString, IOServiceMatching and IORegistryEntryCreateCFProperty
 *    hand the caller one reference, which CFRelease gives back. Values read out of a container
 *    (CFArrayGetValueAtIndex, CFDictionaryGetKeysAndValues) are borrowed.
 *  - IOServiceGetMatchingService(s) consume one reference of the matching dictionary.
 *  - IOServiceGetMatchingServices finds *registered* entries of the class or a subclass only
 *    (user clients are !registered); IORegistryEntryGetChildIterator walks the "IOService" plane.
 *  - Every io_object_t handed out (entries, iterators) is the caller's until IOObjectRelease.
 *  - CFStringGetLength counts UTF-16 units; CFStringGetCString fails on a buffer too small;
 *    CFNumberGetValue converts and says whether the conversion was exact.
 *
 * Misuse is counted, never crashes: releasing a reference the caller does not hold (a borrowed
 * value, a consumed matching dictionary), touching a created object after its last release,
 * using or releasing an io_object_t not held (fake_errors, fake_last_error).
 *
 * Control: fake_reset; fake_cf_string/int/float/bool/data/array/dict build values (held by their
 * container or entry), fake_cf_append, fake_cf_set; fake_io_add, fake_io_set; fake_fail_matching;
 * fake_cf_outstanding and fake_io_outstanding count references the caller still holds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_STRING = 7, T_NUMBER = 22, T_BOOL = 21, T_ARRAY = 19, T_DICT = 18, T_DATA = 20 };
#define K_SINT64 4
#define K_FLOAT64 6
#define IO_ERROR 0xe00002bc /* kIOReturnError */
#define MAX_ENTRIES 256
#define MAX_ITERATORS 256
#define ITERATOR_BASE 0x10000

typedef struct obj {
    int type;
    int held_by_fake; /* a value in the registry (or built by the test): never freed */
    long handed; /* references the caller holds (Create rule) */
    int is_float;
    int64_t i;
    double f;
    char *bytes; /* string (NUL-terminated) or data */
    long len;
    struct obj **keys, **values; /* arrays use values only */
    long count, cap;
} obj;

typedef struct {
    char classes[256]; /* "Class,Superclass,...": matching checks every name */
    int registered, parent;
    obj *props; /* a dictionary */
    long handles; /* io_object_t references the caller holds */
} entry;

typedef struct {
    uint32_t items[MAX_ENTRIES];
    int count, next, open;
} iterator;

static entry entries[MAX_ENTRIES + 1]; /* ids 1..n */
static int n_entries;
static iterator iterators[MAX_ITERATORS];
static int n_iterators;
static long cf_outstanding, errors, fail_matching;
static char last_error[256];

static void misuse(const char *what) {
    errors++;
    snprintf(last_error, sizeof last_error, "%s", what);
}

static obj *new_obj(int type) {
    obj *o = calloc(1, sizeof *o);
    o->type = type;
    o->held_by_fake = 1;
    return o;
}

/* Hand the caller one reference. */
static obj *hand(obj *o) {
    o->handed++;
    cf_outstanding++;
    return o;
}

/* An object the caller created is gone after its last release. */
static int alive(const obj *o, const char *fn) {
    if (o == NULL || (!o->held_by_fake && o->handed <= 0)) {
        misuse(fn);
        return 0;
    }
    return 1;
}

static void put(obj *container, obj *key, obj *value) {
    if (container->count == container->cap) {
        container->cap = container->cap ? 2 * container->cap : 8;
        container->keys = realloc(container->keys, container->cap * sizeof(obj *));
        container->values = realloc(container->values, container->cap * sizeof(obj *));
    }
    container->keys[container->count] = key;
    container->values[container->count++] = value;
}

/* ---- control ---------------------------------------------------------------------------- */

void fake_reset(void) { /* objects are leaked on purpose: a test process is short-lived */
    memset(entries, 0, sizeof entries);
    memset(iterators, 0, sizeof iterators);
    n_entries = n_iterators = 0;
    cf_outstanding = errors = fail_matching = 0;
    last_error[0] = 0;
}

obj *fake_cf_string(const char *s) {
    obj *o = new_obj(T_STRING);
    o->len = (long)strlen(s);
    o->bytes = malloc(o->len + 1);
    memcpy(o->bytes, s, o->len + 1);
    return o;
}
obj *fake_cf_int(int64_t v) { obj *o = new_obj(T_NUMBER); o->i = v; return o; }
obj *fake_cf_float(double v) { obj *o = new_obj(T_NUMBER); o->is_float = 1; o->f = v; return o; }
obj *fake_cf_bool(int v) { obj *o = new_obj(T_BOOL); o->i = v != 0; return o; }
obj *fake_cf_data(const char *bytes, long len) {
    obj *o = new_obj(T_DATA);
    o->len = len;
    o->bytes = malloc(len ? len : 1);
    memcpy(o->bytes, bytes, len);
    return o;
}
obj *fake_cf_array(void) { return new_obj(T_ARRAY); }
obj *fake_cf_dict(void) { return new_obj(T_DICT); }
void fake_cf_append(obj *array, obj *value) { put(array, NULL, value); }
void fake_cf_set(obj *dict, obj *key, obj *value) { put(dict, key, value); }

uint32_t fake_io_add(uint32_t parent, const char *classes, int registered) {
    if (n_entries == MAX_ENTRIES) return 0;
    entry *e = &entries[++n_entries];
    snprintf(e->classes, sizeof e->classes, "%s", classes);
    e->registered = registered;
    e->parent = (int)parent;
    e->props = new_obj(T_DICT);
    return (uint32_t)n_entries;
}
void fake_io_set(uint32_t id, const char *key, obj *value) {
    put(entries[id].props, fake_cf_string(key), value);
}
void fake_fail_matching(int fail) { fail_matching = fail; }
long fake_cf_outstanding(void) { return cf_outstanding; }
long fake_io_outstanding(void) {
    long n = 0;
    for (int i = 1; i <= n_entries; i++) n += entries[i].handles;
    for (int i = 0; i < n_iterators; i++) n += iterators[i].open;
    return n;
}
long fake_errors(void) { return errors; }
const char *fake_last_error(void) { return last_error; }

/* ---- CoreFoundation --------------------------------------------------------------------- */

unsigned long CFStringGetTypeID(void) { return T_STRING; }
unsigned long CFNumberGetTypeID(void) { return T_NUMBER; }
unsigned long CFBooleanGetTypeID(void) { return T_BOOL; }
unsigned long CFArrayGetTypeID(void) { return T_ARRAY; }
unsigned long CFDictionaryGetTypeID(void) { return T_DICT; }
unsigned long CFDataGetTypeID(void) { return T_DATA; }

unsigned long CFGetTypeID(obj *o) { return alive(o, "CFGetTypeID") ? (unsigned long)o->type : 0; }

void CFRelease(obj *o) {
    if (o == NULL || o->handed <= 0) {
        misuse("CFRelease of a reference the caller does not hold");
        return;
    }
    o->handed--;
    cf_outstanding--;
}

obj *CFStringCreateWithCString(void *alloc, const char *s, uint32_t encoding) {
    (void)alloc;
    (void)encoding;
    obj *o = fake_cf_string(s);
    o->held_by_fake = 0;
    return hand(o);
}

long CFStringGetLength(obj *s) { /* UTF-16 units: one per code point below U+10000, else two */
    if (!alive(s, "CFStringGetLength")) return 0;
    long n = 0;
    for (long i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->bytes[i];
        if ((c & 0xC0) != 0x80) n += (c >= 0xF0) ? 2 : 1;
    }
    return n;
}
long CFStringGetMaximumSizeForEncoding(long length, uint32_t encoding) {
    (void)encoding;
    return 3 * length; /* UTF-8: at most 3 bytes per UTF-16 unit */
}
unsigned char CFStringGetCString(obj *s, char *buf, long size, uint32_t encoding) {
    (void)encoding;
    if (!alive(s, "CFStringGetCString") || s->len + 1 > size) return 0;
    memcpy(buf, s->bytes, s->len + 1);
    return 1;
}

unsigned char CFNumberIsFloatType(obj *n) { return alive(n, "CFNumberIsFloatType") && n->is_float; }
unsigned char CFNumberGetValue(obj *n, long type, void *out) {
    if (!alive(n, "CFNumberGetValue")) return 0;
    if (type == K_SINT64) {
        int64_t v = n->is_float ? (int64_t)n->f : n->i;
        memcpy(out, &v, sizeof v);
        return !n->is_float || (double)v == n->f;
    }
    if (type == K_FLOAT64) {
        double v = n->is_float ? n->f : (double)n->i;
        memcpy(out, &v, sizeof v);
        return 1;
    }
    return 0;
}
unsigned char CFBooleanGetValue(obj *b) { return alive(b, "CFBooleanGetValue") && b->i; }

long CFArrayGetCount(obj *a) { return alive(a, "CFArrayGetCount") ? a->count : 0; }
obj *CFArrayGetValueAtIndex(obj *a, long i) {
    if (!alive(a, "CFArrayGetValueAtIndex")) return NULL;
    if (i < 0 || i >= a->count) {
        misuse("CFArrayGetValueAtIndex out of range");
        return NULL;
    }
    return a->values[i];
}
long CFDictionaryGetCount(obj *d) { return alive(d, "CFDictionaryGetCount") ? d->count : 0; }
void CFDictionaryGetKeysAndValues(obj *d, obj **keys, obj **values) {
    if (!alive(d, "CFDictionaryGetKeysAndValues")) return;
    for (long i = 0; i < d->count; i++) {
        keys[i] = d->keys[i];
        values[i] = d->values[i];
    }
}
long CFDataGetLength(obj *d) { return alive(d, "CFDataGetLength") ? d->len : 0; }
const char *CFDataGetBytePtr(obj *d) { return alive(d, "CFDataGetBytePtr") ? d->bytes : NULL; }

/* ---- IOKit ------------------------------------------------------------------------------ */

static int has_class(const entry *e, const char *name) {
    char copy[256];
    snprintf(copy, sizeof copy, "%s", e->classes);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (strcmp(tok, name) == 0) return 1;
    return 0;
}

static entry *held(uint32_t id, const char *fn) {
    if (id < 1 || id > (uint32_t)n_entries || entries[id].handles <= 0) {
        misuse(fn);
        return NULL;
    }
    return &entries[id];
}

static uint32_t new_iterator(void) {
    if (n_iterators == MAX_ITERATORS) return 0;
    iterators[n_iterators].open = 1;
    return ITERATOR_BASE + n_iterators++;
}

obj *IOServiceMatching(const char *name) {
    obj *d = new_obj(T_DICT);
    d->held_by_fake = 0;
    put(d, fake_cf_string("IOProviderClass"), fake_cf_string(name));
    return hand(d);
}

/* The matching functions take over the caller's reference. */
static const char *consume(obj *matching) {
    if (matching == NULL || matching->handed <= 0) {
        misuse("matching dictionary the caller does not hold");
        return NULL;
    }
    matching->handed--;
    cf_outstanding--;
    return matching->values[0]->bytes;
}

int IOServiceGetMatchingServices(uint32_t port, obj *matching, uint32_t *existing) {
    (void)port;
    const char *name = consume(matching);
    if (name == NULL || fail_matching) return (int)IO_ERROR;
    uint32_t it = new_iterator();
    if (it == 0) return (int)IO_ERROR;
    iterator *iter = &iterators[it - ITERATOR_BASE];
    for (int i = 1; i <= n_entries; i++)
        if (entries[i].registered && has_class(&entries[i], name)) iter->items[iter->count++] = i;
    *existing = it;
    return 0;
}

uint32_t IOServiceGetMatchingService(uint32_t port, obj *matching) {
    (void)port;
    const char *name = consume(matching);
    if (name == NULL) return 0;
    for (int i = 1; i <= n_entries; i++)
        if (entries[i].registered && has_class(&entries[i], name)) {
            entries[i].handles++;
            return (uint32_t)i;
        }
    return 0;
}

uint32_t IOIteratorNext(uint32_t it) {
    if (it < ITERATOR_BASE || it - ITERATOR_BASE >= (uint32_t)n_iterators ||
        !iterators[it - ITERATOR_BASE].open) {
        misuse("IOIteratorNext on a released iterator");
        return 0;
    }
    iterator *iter = &iterators[it - ITERATOR_BASE];
    if (iter->next >= iter->count) return 0;
    uint32_t id = iter->items[iter->next++];
    entries[id].handles++;
    return id;
}

int IOObjectRelease(uint32_t object) {
    if (object >= ITERATOR_BASE) {
        uint32_t k = object - ITERATOR_BASE;
        if (k >= (uint32_t)n_iterators || !iterators[k].open) {
            misuse("IOObjectRelease of a released iterator");
            return (int)IO_ERROR;
        }
        iterators[k].open = 0;
        return 0;
    }
    entry *e = held(object, "IOObjectRelease of an object the caller does not hold");
    if (e == NULL) return (int)IO_ERROR;
    e->handles--;
    return 0;
}

int IOObjectGetClass(uint32_t object, char *name) {
    entry *e = held(object, "IOObjectGetClass on an object the caller does not hold");
    if (e == NULL) return (int)IO_ERROR;
    size_t n = strcspn(e->classes, ",");
    memcpy(name, e->classes, n);
    name[n] = 0;
    return 0;
}

int IORegistryEntryGetChildIterator(uint32_t object, const char *plane, uint32_t *it) {
    entry *e = held(object, "IORegistryEntryGetChildIterator on an object not held");
    if (e == NULL || strcmp(plane, "IOService") != 0) return (int)IO_ERROR;
    uint32_t id = new_iterator();
    if (id == 0) return (int)IO_ERROR;
    iterator *iter = &iterators[id - ITERATOR_BASE];
    for (int i = 1; i <= n_entries; i++)
        if (entries[i].parent == (int)object) iter->items[iter->count++] = i;
    *it = id;
    return 0;
}

obj *IORegistryEntryCreateCFProperty(uint32_t object, obj *key, void *alloc, uint32_t options) {
    (void)alloc;
    (void)options;
    entry *e = held(object, "IORegistryEntryCreateCFProperty on an object not held");
    if (e == NULL || !alive(key, "IORegistryEntryCreateCFProperty with a released key"))
        return NULL;
    for (long i = 0; i < e->props->count; i++)
        if (strcmp(e->props->keys[i]->bytes, key->bytes) == 0) return hand(e->props->values[i]);
    return NULL;
}
