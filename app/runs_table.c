/* runs_table.c - what the Runs screen does with a table of points:
 * sorting, grouping over the seeds (mean and 95 % interval), the Pareto
 * front of two columns, cell text and search. See runs_db.h. */
#include "runs_db.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void runs_table_free(runs_table *t)
{
    size_t cells = (size_t)t->n_rows * (size_t)t->n_cols;
    for (size_t i = 0; t->cells && i < cells; i++)
        free(t->cells[i].str);
    for (int c = 0; t->cols && c < t->n_cols; c++)
        free(t->cols[c].name);
    for (int i = 0; i < t->n_rows; i++) {
        if (t->ids)
            free(t->ids[i]);
        if (t->errors)
            free(t->errors[i]);
    }
    free(t->cells), free(t->cols), free(t->ids), free(t->errors);
    memset(t, 0, sizeof *t);
}

int runs_table_col(const runs_table *t, const char *name)
{
    for (int c = 0; c < t->n_cols; c++)
        if (strcmp(t->cols[c].name, name) == 0)
            return c;
    return -1;
}

static const runs_cell *cell(const runs_table *t, int row, int col)
{
    return &t->cells[(size_t)row * (size_t)t->n_cols + (size_t)col];
}

/* --- sorting --- */

static struct {
    const runs_table *t;
    int col, desc;
} g_sort;   /* qsort has no context argument in C17 */

static int rank(runs_kind k)
{
    return k == RUNS_NUM ? 0 : k == RUNS_STR ? 1 : k == RUNS_BOOL ? 2 : 3;
}

static int cmp_rows(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    const runs_cell *x = cell(g_sort.t, a, g_sort.col), *y = cell(g_sort.t, b, g_sort.col);
    int ra = rank(x->kind), rb = rank(y->kind), r = 0;
    if (ra == 3 || rb == 3) {
        r = ra - rb;                       /* empty cells last either way */
    } else if (ra != rb) {
        r = g_sort.desc ? rb - ra : ra - rb;
    } else {
        if (x->kind == RUNS_STR)
            r = strcmp(x->str, y->str);
        else
            r = (x->num > y->num) - (x->num < y->num);
        if (g_sort.desc)
            r = -r;
    }
    return r ? r : (a > b) - (a < b);
}

void runs_table_order(const runs_table *t, int col, int desc, int *order)
{
    for (int i = 0; i < t->n_rows; i++)
        order[i] = i;
    if (col < 0 || col >= t->n_cols || t->n_rows < 2)
        return;
    g_sort.t = t, g_sort.col = col, g_sort.desc = desc;
    qsort(order, (size_t)t->n_rows, sizeof *order, cmp_rows);
}

/* --- grouping --- */

/* The 0.975 quantile of Student's t with df degrees of freedom (df >= 1),
 * from the standard table; 1.96 past 30 (as nm.runs: runs:group). */
static double t975(int df)
{
    static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                               2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    return df <= 30 ? t[df - 1] : 1.96;
}

static int same_cell(const runs_cell *a, const runs_cell *b)
{
    if (a->kind != b->kind)
        return 0;
    if (a->kind == RUNS_STR)
        return strcmp(a->str, b->str) == 0;
    return a->kind == RUNS_NONE || a->num == b->num;
}

/* A copy of a points column's name for the grouped table, where "#" and
 * "n" are the group's number and size: a param or metric of either name
 * becomes param.NAME / metric.NAME. */
static char *group_name(const runs_col *c)
{
    if (strcmp(c->name, "#") && strcmp(c->name, "n"))
        return strdup(c->name);
    char buf[300];
    snprintf(buf, sizeof buf, "%s.%s", c->role == RUNS_COL_PARAM ? "param" : "metric", c->name);
    return strdup(buf);
}

int runs_table_group(const runs_table *pts, runs_table *out)
{
    memset(out, 0, sizeof *out);
    int np = 0, nm = 0, status = runs_table_col(pts, "status");
    for (int c = 0; c < pts->n_cols; c++) {
        np += pts->cols[c].role == RUNS_COL_PARAM;
        nm += pts->cols[c].role == RUNS_COL_METRIC && pts->cols[c].numeric;
    }
    int nc = 2 + np + nm, n = pts->n_rows;
    int *src = malloc((size_t)nc * sizeof *src);   /* the points' column of each */
    int *group = malloc((size_t)(n ? n : 1) * sizeof *group);
    out->cols = calloc((size_t)nc, sizeof *out->cols);
    out->cells = calloc((size_t)(n ? n : 1) * (size_t)nc, sizeof *out->cells);
    int rc = src && group && out->cols && out->cells ? RUNS_OK : RUNS_ERR;
    if (rc == RUNS_OK) {
        out->n_cols = nc;
        out->cols[0] = (runs_col){strdup("#"), RUNS_COL_POS, 1};
        out->cols[1] = (runs_col){strdup("n"), RUNS_COL_COUNT, 1};
        src[0] = src[1] = -1;
        int k = 2;
        for (int c = 0; c < pts->n_cols; c++)
            if (pts->cols[c].role == RUNS_COL_PARAM)
                src[k] = c, out->cols[k++] = (runs_col){group_name(&pts->cols[c]), RUNS_COL_PARAM,
                                                        pts->cols[c].numeric};
        for (int c = 0; c < pts->n_cols; c++)
            if (pts->cols[c].role == RUNS_COL_METRIC && pts->cols[c].numeric)
                src[k] = c, out->cols[k++] = (runs_col){group_name(&pts->cols[c]), RUNS_COL_METRIC, 1};
        for (int c = 0; c < nc; c++)
            if (!out->cols[c].name)
                rc = RUNS_ERR;
    }
    /* each ok point joins the first group with the same params */
    for (int i = 0; i < n && rc == RUNS_OK; i++) {
        group[i] = -1;
        const runs_cell *s = status >= 0 ? cell(pts, i, status) : NULL;
        if (!s || s->kind != RUNS_STR || strcmp(s->str, "ok") != 0)
            continue;
        int g;
        for (g = 0; g < out->n_rows; g++) {
            int same = 1;
            for (int c = 2; c < 2 + np && same; c++)
                same = same_cell(cell(pts, i, src[c]), cell(out, g, c));
            if (same)
                break;
        }
        runs_cell *row = &out->cells[(size_t)g * (size_t)nc];
        if (g == out->n_rows) {
            out->n_rows++;
            for (int c = 0; c < nc; c++)
                row[c] = (runs_cell){.kind = RUNS_NONE, .ci = NAN};
            row[0] = (runs_cell){.kind = RUNS_NUM, .num = g + 1, .ci = NAN, .n = 1};
            row[1] = (runs_cell){.kind = RUNS_NUM, .num = 0, .ci = NAN, .n = 1};
            for (int c = 2; c < 2 + np; c++) {
                const runs_cell *p = cell(pts, i, src[c]);
                row[c] = *p;
                if (p->str && !(row[c].str = strdup(p->str)))
                    row[c].kind = RUNS_NONE, rc = RUNS_ERR;
            }
        }
        group[i] = g;
        row[1].num++;
    }
    /* mean and 95 % interval per metric: two passes over each group's points */
    for (int g = 0; g < out->n_rows && rc == RUNS_OK; g++) {
        runs_cell *row = &out->cells[(size_t)g * (size_t)nc];
        for (int c = 2 + np; c < nc; c++) {
            double sum = 0, ss = 0;
            int k = 0;
            for (int i = 0; i < n; i++)
                if (group[i] == g && cell(pts, i, src[c])->kind == RUNS_NUM)
                    sum += cell(pts, i, src[c])->num, k++;
            if (k == 0)
                continue;
            double mean = sum / k;
            for (int i = 0; i < n; i++)
                if (group[i] == g && cell(pts, i, src[c])->kind == RUNS_NUM) {
                    double d = cell(pts, i, src[c])->num - mean;
                    ss += d * d;
                }
            double ci = k > 1 ? t975(k - 1) * sqrt(ss / (k - 1)) / sqrt((double)k) : NAN;
            row[c] = (runs_cell){.kind = RUNS_NUM, .num = mean, .ci = ci, .n = k};
        }
    }
    free(src);
    free(group);
    if (rc != RUNS_OK)
        runs_table_free(out);
    return rc;
}

/* --- Pareto front --- */

typedef struct {
    double x, y;   /* both turned into "smaller is better" */
    int i;
} pt;

static int cmp_pt(const void *a, const void *b)
{
    const pt *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    if (p->y != q->y)
        return p->y < q->y ? -1 : 1;
    return (p->i > q->i) - (p->i < q->i);
}

int runs_pareto(const double *x, const double *y, int n, int x_min, int y_max,
                unsigned char *front)
{
    pt *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    int k = 0, m = 0;
    for (int i = 0; i < n; i++) {
        front[i] = 0;
        if (v && !isnan(x[i]) && !isnan(y[i]))
            v[k++] = (pt){x_min ? x[i] : -x[i], y_max ? -y[i] : y[i], i};
    }
    if (!v)
        return 0;
    qsort(v, (size_t)k, sizeof *v, cmp_pt);
    double best = INFINITY;
    for (int j = 0; j < k; j++)
        if (v[j].y < best) {   /* better than every point at smaller or equal x */
            best = v[j].y;
            front[v[j].i] = 1;
            m++;
        }
    free(v);
    return m;
}

int runs_table_xy(const runs_table *t, int cx, int cy, double *x, double *y, int *row)
{
    int k = 0;
    if (cx < 0 || cy < 0 || cx >= t->n_cols || cy >= t->n_cols)
        return 0;
    for (int i = 0; i < t->n_rows; i++) {
        const runs_cell *a = cell(t, i, cx), *b = cell(t, i, cy);
        if (a->kind == RUNS_NUM && b->kind == RUNS_NUM && isfinite(a->num) && isfinite(b->num)) {
            x[k] = a->num, y[k] = b->num, row[k] = i;
            k++;
        }
    }
    return k;
}

/* --- text --- */

static void num_text(double v, char *buf, size_t n)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%.4g", v);
}

void runs_cell_text(const runs_cell *c, char *buf, size_t n)
{
    switch (c->kind) {
    case RUNS_NUM:
        num_text(c->num, buf, n);
        if (!isnan(c->ci)) {
            size_t used = strlen(buf);
            snprintf(buf + used, n - used, "\u00b1%.2g", c->ci);
        }
        break;
    case RUNS_STR: snprintf(buf, n, "%s", c->str); break;
    case RUNS_BOOL: snprintf(buf, n, "%s", c->num != 0 ? "true" : "false"); break;
    default: buf[0] = '\0'; break;
    }
}

int runs_row_matches(const runs_table *t, int row, const char *needle)
{
    if (!needle[0])
        return 1;
    if (t->ids && t->ids[row] && strstr(t->ids[row], needle))
        return 1;
    char buf[256];
    for (int c = 0; c < t->n_cols; c++) {
        runs_cell_text(cell(t, row, c), buf, sizeof buf);
        if (strstr(buf, needle))
            return 1;
    }
    return t->errors && t->errors[row] && strstr(t->errors[row], needle);
}
