/* scalesim_csv.c - SCALE-Sim topology files as models of detached layers.
 *
 * The format: a header line
 *   Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width,
 *   Channels, Num Filter, Strides,[ Sparsity,]
 * then one row per layer. Fields are separated by commas, surrounding
 * whitespace is ignored, rows usually end with a comma, blank lines are
 * skipped. The optional Sparsity column holds "N:M" (empty = dense).
 *
 * Each row becomes one layer with no producer (n_inputs = 0): SCALE-Sim
 * describes every layer by its own ifmap, with no padding, so the layer's
 * input shape is the row's (Channels, IFMAP Height, IFMAP Width), padding is
 * 0 and the output is a convolution's floor((H - R) / s) + 1. SCALE-Sim
 * itself computes ceil((H - R + s) / s), one more row and column whenever
 * (H - R) % s != 0 (ResNet-18's Conv1: 224, 7x7, stride 2 gives 109 here,
 * 110 in SCALE-Sim): code that must reproduce SCALE-Sim's counts computes
 * its ofmap from in_h, kh and stride_h, which are the file's values.
 *
 * Kind: a conv, except that a 1x1 filter on a 1x1 ifmap (the classifier rows
 * "FC", "FC6") becomes a linear layer, the kind the zoo and ONNX readers
 * give a classifier; its MACs and weights are the same either way.
 *
 * The whole file is validated before anything is allocated for the model:
 * values are capped (each at 2^20, an ifmap and the file's total weights at
 * 2^31 elements, 10000 rows) so a hostile file cannot ask for a huge
 * allocation or a quadratic name check. A tiny file can still describe a
 * big network, so the synthetic weights (4 bytes each) are reserved against
 * the caller's memory budget (nm_mem_reserve, tensor.h: --mem-limit in
 * scripts) before any is allocated; that budget, or the 2^31-weight cap
 * when there is none, is the limit on what a topology may allocate. */
#include "nmio.h"

#include "fileutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SS_MAX_FILE ((size_t)4 << 20)
#define SS_MAX_LINE 4096
#define SS_MAX_ROWS 10000
#define SS_MAX_VALUE (1 << 20)
#define SS_MAX_ELEMS ((int64_t)1 << 31)
#define PATH_MAX_WHAT 4200

enum { COL_NAME, COL_IH, COL_IW, COL_FH, COL_FW, COL_C, COL_NF, COL_S, COL_SPARSITY, N_COLS };

static const char *const col_names[N_COLS] = {
    "Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
    "Channels", "Num Filter", "Strides", "Sparsity",
};

typedef struct {
    char name[NM_NAME_MAX];
    int v[N_COLS];  /* numeric columns COL_IH..COL_S */
    int wn, wm;
} ss_row;

typedef struct {
    const char *path;
    int line;       /* 1-based number of the line being read */
    int ncols;      /* 8 or 9, from the header */
    ss_row *rows;
    int n_rows, cap_rows;
    int64_t total_weights;
} ss_reader;

/* Sets "path:line: column k (Name): message". col < 0 names no column. */
static int ss_err(const ss_reader *r, int col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int ss_err(const ss_reader *r, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (col < 0)
        return nm_seterr("%s:%d: %s", r->path, r->line, msg);
    int known = r->ncols ? col < r->ncols : col < N_COLS; /* ncols = 0 in the header */
    return nm_seterr("%s:%d: column %d (%s): %s", r->path, r->line, col + 1,
                     known ? col_names[col] : "extra", msg);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Splits a line in place at commas into trimmed fields; trailing empty
 * fields (the customary final comma) are dropped. Returns the count, or
 * -1 when there are more than `cap`. */
static int split_fields(char *line, char **fields, int cap)
{
    int n = 0;
    for (char *p = line;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (n == cap)
            return (*trim(p) || comma) ? -1 : n;
        fields[n++] = trim(p);
        if (!comma)
            break;
        p = comma + 1;
    }
    while (n > 0 && fields[n - 1][0] == '\0')
        n--;
    return n;
}

/* A positive integer no larger than SS_MAX_VALUE. */
static int parse_positive(const ss_reader *r, int col, const char *s, int *out)
{
    if (!*s)
        return ss_err(r, col, "empty value");
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || end == s)
        return ss_err(r, col, "'%s' is not a whole number", s);
    if (v <= 0)
        return ss_err(r, col, "%s must be positive", s);
    if (errno == ERANGE || v > SS_MAX_VALUE)
        return ss_err(r, col, "%s is absurdly large (the limit is %d)", s, SS_MAX_VALUE);
    *out = (int)v;
    return NM_OK;
}

/* "N:M" with 1 <= N <= M; empty means dense (0:0). */
static int parse_nm(const ss_reader *r, const char *s, int *wn, int *wm)
{
    *wn = *wm = 0;
    if (!*s)
        return NM_OK;
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (end == s || *end != ':')
        return ss_err(r, COL_SPARSITY, "'%s' is not N:M (like 2:4)", s);
    const char *ms = end + 1;
    long long m = strtoll(ms, &end, 10);
    if (end == ms || *end || errno == ERANGE)
        return ss_err(r, COL_SPARSITY, "'%s' is not N:M (like 2:4)", s);
    if (m < 1 || n < 1 || n > m || m > SS_MAX_VALUE)
        return ss_err(r, COL_SPARSITY, "impossible N:M %s (need 1 <= N <= M)", s);
    *wn = (int)n, *wm = (int)m;
    return NM_OK;
}

static int read_header(ss_reader *r, char **f, int n)
{
    for (int i = 0; i < n; i++) {
        if (i >= N_COLS)
            return ss_err(r, i, "unexpected column '%s' in the header", f[i]);
        if (strcasecmp(f[i], col_names[i]) != 0)
            return ss_err(r, i, "header says '%s', expected '%s'", f[i], col_names[i]);
    }
    if (n < COL_SPARSITY)
        return ss_err(r, n, "missing from the header");
    r->ncols = n;
    return NM_OK;
}

static int read_row(ss_reader *r, char **f, int n)
{
    if (n > r->ncols)
        return ss_err(r, r->ncols, "unexpected value '%s' (the header has %d columns)",
                      f[r->ncols], r->ncols);
    if (n < COL_SPARSITY)
        return ss_err(r, n, "missing");
    if (r->n_rows == SS_MAX_ROWS)
        return ss_err(r, -1, "more than %d layers", SS_MAX_ROWS);
    ss_row row;
    memset(&row, 0, sizeof row);
    if (!f[COL_NAME][0])
        return ss_err(r, COL_NAME, "empty layer name");
    if (strlen(f[COL_NAME]) >= NM_NAME_MAX)
        return ss_err(r, COL_NAME, "layer name is longer than %d characters", NM_NAME_MAX - 1);
    snprintf(row.name, sizeof row.name, "%s", f[COL_NAME]);
    for (int c = COL_IH; c <= COL_S; c++)
        if (parse_positive(r, c, f[c], &row.v[c]))
            return NM_ERR;
    if (row.v[COL_FH] > row.v[COL_IH])
        return ss_err(r, COL_FH, "filter height %d is larger than the ifmap height %d",
                      row.v[COL_FH], row.v[COL_IH]);
    if (row.v[COL_FW] > row.v[COL_IW])
        return ss_err(r, COL_FW, "filter width %d is larger than the ifmap width %d",
                      row.v[COL_FW], row.v[COL_IW]);
    int64_t ifmap = (int64_t)row.v[COL_IH] * row.v[COL_IW] * row.v[COL_C];
    if (ifmap > SS_MAX_ELEMS)
        return ss_err(r, COL_C, "an ifmap of %lld elements is absurdly large (limit %lld)",
                      (long long)ifmap, (long long)SS_MAX_ELEMS);
    int64_t weights = (int64_t)row.v[COL_NF] * row.v[COL_C] * row.v[COL_FH] * row.v[COL_FW];
    if (weights > SS_MAX_ELEMS - r->total_weights)
        return ss_err(r, COL_NF, "%lld more weights would pass the limit of %lld for a file",
                      (long long)weights, (long long)SS_MAX_ELEMS);
    if (n > COL_SPARSITY && parse_nm(r, f[COL_SPARSITY], &row.wn, &row.wm))
        return NM_ERR;
    for (int i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].name, row.name) == 0)
            return ss_err(r, COL_NAME, "layer name '%s' is used twice", row.name);
    if (r->n_rows == r->cap_rows) {
        int cap = r->cap_rows ? 2 * r->cap_rows : 64;
        ss_row *nr = realloc(r->rows, (size_t)cap * sizeof *nr);
        if (!nr)
            return nm_seterr("%s: out of memory", r->path);
        r->rows = nr;
        r->cap_rows = cap;
    }
    r->rows[r->n_rows++] = row;
    r->total_weights += weights;
    return NM_OK;
}

/* Reads every line of the text into r->rows. */
static int read_lines(ss_reader *r, char *text, size_t len)
{
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) /* UTF-8 byte order mark */
        text += 3, len -= 3;
    char *nul = memchr(text, '\0', len);
    if (nul) {
        r->line = 1;
        for (char *p = text; p < nul; p++)
            r->line += *p == '\n';
        return ss_err(r, -1, "contains a NUL byte: not a text file");
    }
    int have_header = 0;
    char *fields[N_COLS + 1];
    for (char *p = text; *p;) {
        r->line++;
        char *eol = strchr(p, '\n');
        char *next = eol ? eol + 1 : p + strlen(p);
        size_t n = (size_t)((eol ? eol : next) - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > SS_MAX_LINE)
            return ss_err(r, -1, "line is longer than %d characters", SS_MAX_LINE);
        p[n] = '\0';
        char *line = p;
        p = next;
        if (!*trim(line))
            continue;
        int nf = split_fields(line, fields, N_COLS + 1);
        if (nf < 0)
            return ss_err(r, N_COLS + 1, "too many columns");
        if (!have_header) {
            if (read_header(r, fields, nf))
                return NM_ERR;
            have_header = 1;
        } else if (read_row(r, fields, nf)) {
            return NM_ERR;
        }
    }
    if (!have_header)
        return nm_seterr("%s: empty file (expected the header '%s, %s, ...')", r->path,
                         col_names[0], col_names[1]);
    if (r->n_rows == 0)
        return nm_seterr("%s: no layers after the header", r->path);
    return NM_OK;
}

/* Model name: the file's base name without its extension. */
static void model_name(const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

static nm_model *build_model(const ss_reader *r, uint64_t seed)
{
    char name[NM_NAME_MAX];
    model_name(r->path, name, sizeof name);
    const ss_row *first = &r->rows[0];
    nm_model *m = nm_model_new(name, first->v[COL_C], first->v[COL_IH], first->v[COL_IW]);
    if (!m)
        return NULL;
    for (int i = 0; i < r->n_rows; i++) {
        const ss_row *row = &r->rows[i];
        nm_layer l;
        memset(&l, 0, sizeof l);
        snprintf(l.name, sizeof l.name, "%s", row->name);
        int fc = row->v[COL_IH] == 1 && row->v[COL_IW] == 1 && row->v[COL_FH] == 1 &&
                 row->v[COL_FW] == 1;
        l.kind = fc ? NM_LAYER_LINEAR : NM_LAYER_CONV;
        l.n_inputs = 0;
        l.in_c = row->v[COL_C], l.in_h = row->v[COL_IH], l.in_w = row->v[COL_IW];
        l.out_c = row->v[COL_NF];
        l.kh = row->v[COL_FH], l.kw = row->v[COL_FW];
        l.stride_h = l.stride_w = row->v[COL_S];
        l.groups = 1;
        l.wn = row->wn, l.wm = row->wm;
        if (nm_model_append(m, &l) < 0) {
            nm_tensor_release(l.weight); /* the only tensor append allocates */
            nm_model_free(m);
            nm_preperr(r->path);
            return NULL;
        }
    }
    nm_model_init_weights(m, seed);
    return m;
}

nm_model *nm_scalesim_load(const char *path, uint64_t seed)
{
    unsigned char *data;
    size_t len;
    if (nm_read_file(path, SS_MAX_FILE, &data, &len))
        return NULL;
    ss_reader r = {.path = path};
    nm_model *m = NULL;
    if (read_lines(&r, (char *)data, len) == NM_OK) {
        char what[PATH_MAX_WHAT];
        snprintf(what, sizeof what, "%s: %lld synthetic weights", path, (long long)r.total_weights);
        if (nm_mem_reserve(what, r.total_weights * (int64_t)sizeof(float)) == NM_OK)
            m = build_model(&r, seed);
    }
    free(r.rows);
    free(data);
    return m;
}
