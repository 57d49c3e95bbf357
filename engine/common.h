/*
 * common.h - error codes, allocation, growable buffers, error lists, clocks.
 *
 * Every Stampede module includes this. It holds the one error convention (0 or a negative
 * SP_E* code; sp_strerror() names it), the allocation wrappers that abort on out-of-memory
 * (so callers never check for NULL), sp_buf (a growable byte buffer with a hard cap), and
 * sp_errlist (validation errors, each naming the path of the bad field and the reason).
 *
 * Threads: everything here is thread-safe in the sense that no function keeps global state;
 * a given sp_buf or sp_errlist is used by one thread at a time.
 */
#ifndef SP_COMMON_H
#define SP_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/banned.h"
#include "engine/limits.h"

/* Error codes: 0 is success, failures are negative. */
enum {
    SP_OK = 0,
    SP_EINVAL = -1,    /* invalid input (a definition, an option, a template) */
    SP_ELIMIT = -2,    /* a named cap in limits.h was reached */
    SP_ENOTFOUND = -3, /* a file, a name or an id does not exist */
    SP_EIO = -4,       /* reading or writing a file or socket failed */
    SP_ESTATE = -5,    /* the call does not fit the object's state (e.g. start twice) */
    SP_ESYS = -6,      /* a system call or library failed (errno or library message kept) */
};

/* Scans JSON text (need not be valid) for brackets outside strings: the offset of the first
 * one nested deeper than max_depth, or SIZE_MAX when none is. Linear, allocates nothing: run it
 * before a parser builds a tree from outside input. */
size_t sp_json_too_deep(const char *text, size_t len, size_t max_depth);

/* Returns a static, human-readable name for an SP_E* code. */
const char *sp_strerror(int code);

#define SP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SP_UNUSED(x) ((void)(x))

/* Allocation: never return NULL; print one line and abort() when memory runs out. Jansson
 * allocates through sp_malloc too (set in common.c before main() in every program that links
 * the engine), so a json_t constructor never returns NULL for lack of memory either. */
void *sp_malloc(size_t n);
void *sp_calloc(size_t count, size_t size);
void *sp_realloc(void *p, size_t n);
char *sp_strdup(const char *s);
char *sp_strndup(const char *s, size_t n);
/* Grows *arr (of *cap elements of elem_size) so that it holds at least need elements. */
void sp_grow(void **arr, size_t *cap, size_t need, size_t elem_size);
/* For tests: how many allocations Jansson has made through sp_malloc on the calling thread. */
uint64_t sp_json_allocs(void);

/*
 * sp_buf: a growable byte buffer that refuses to grow past max (SP_ELIMIT). The content is
 * always NUL-terminated (the NUL is not counted in len), so b->p can be used as a C string.
 * sp_buf_init() allocates nothing; sp_buf_release() frees and re-initialises with the same max.
 */
typedef struct sp_buf {
    char *p;
    size_t len;
    size_t cap;
    size_t max;
} sp_buf;

void sp_buf_init(sp_buf *b, size_t max);
void sp_buf_release(sp_buf *b);
/* Sets len to 0 and keeps the memory. */
void sp_buf_reset(sp_buf *b);
int sp_buf_add(sp_buf *b, const void *data, size_t n);
/* Makes room for n more bytes, so that b->p does not move while they are added (data that
 * points into b itself can then be copied). SP_ELIMIT past the cap. */
int sp_buf_reserve(sp_buf *b, size_t n);
int sp_buf_adds(sp_buf *b, const char *s);
int sp_buf_addc(sp_buf *b, char c);
int sp_buf_addf(sp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sp_buf_vaddf(sp_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Gives the memory to the caller (free() it) and re-initialises b. Never NULL. */
char *sp_buf_detach(sp_buf *b, size_t *len);

/*
 * sp_errlist: validation errors. Each entry has a path ("users[0].tasks[2].steps[0].request.url",
 * "" for the whole document) and a message ("unknown field 'mehtod' (did you mean 'method'?)").
 * At most SP_ERRLIST_MAX entries are kept; later ones only raise the dropped count.
 */
typedef struct sp_error {
    char *path;
    char *msg;
} sp_error;

typedef struct sp_errlist {
    sp_error *v;
    size_t n;
    size_t cap;
    size_t dropped;
} sp_errlist;

void sp_errlist_init(sp_errlist *el);
void sp_errlist_release(sp_errlist *el);
void sp_errlist_add(sp_errlist *el, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes "path: msg" lines (or "msg" when the path is empty) to out, one per line. */
void sp_errlist_format(const sp_errlist *el, sp_buf *out);

/* Monotonic clock in nanoseconds and microseconds; wall clock in milliseconds since the epoch. */
uint64_t sp_now_ns(void);
uint64_t sp_now_us(void);
int64_t sp_wall_ms(void);

/* Levenshtein distance, capped: returns cap+1 when the distance is above cap. For "did you mean".
 */
size_t sp_edit_distance(const char *a, const char *b, size_t cap);
/* Returns the closest of candidates[0..n) to word when it is near enough to suggest, else NULL. */
const char *sp_suggest(const char *word, const char *const *candidates, size_t n);

/* xoshiro256** random numbers: one state per thread or per VU, never shared. */
typedef struct sp_rng {
    uint64_t s[4];
} sp_rng;
void sp_rng_seed(sp_rng *r, uint64_t seed);
uint64_t sp_rng_next(sp_rng *r);
/* Uniform in [lo, hi], both inclusive; lo <= hi. */
int64_t sp_rng_range(sp_rng *r, int64_t lo, int64_t hi);
/* Uniform in [0, 1). */
double sp_rng_double(sp_rng *r);

#endif
