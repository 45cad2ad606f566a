/* winograd.c - 3x3 stride-1 convolution by Winograd's minimal filtering
 * F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016), for inference.
 *
 * Each 2x2 block of outputs of one channel is computed from the 4x4 input
 * tile around it as Y = A^T [(G g G^T) .* (B^T d B)] A, so a layer becomes 16
 * independent matrix products U[xi] (cout x cin) * V[xi] (cin x tiles), one
 * per element xi of the 4x4 transformed tile: 16 multiplies per 4 outputs
 * instead of 36. The transforms are exact in real arithmetic; in float they
 * add a rounding error of a few ulps of the inputs' magnitude.
 *
 * Layouts (CNHW activations, kernels.h): V is [16][cin][T] and M [16][cout][T]
 * with T = samples x tile rows x tile columns of the chunk; U is
 * [16][cout][cin]; planes are plane_stride() floats apart. */
#include "kernels.h"

#include <cblas.h>
#include <string.h>

#define WINO_WORK_CAP ((size_t)1 << 22)   /* floats of V + M per chunk (16 MiB) */

static int64_t tiles_per_sample(const nm_conv_geom *g);

/* Where F(2x2, 3x3) pays (tests/train/bench_conv): with fewer channels the
 * transforms cost more than the products save, and with few tiles (a 7x7
 * plane at batch 1) the 16 products are too thin for the BLAS and the
 * transformed kernels (16/9 of the weight) cost more to read. */
int nm_winograd_ok(const nm_conv_geom *g, int n)
{
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           g->groups == 1 && g->cin >= 128 && g->cout >= 128 && g->oh >= 2 && g->ow >= 2 &&
           tiles_per_sample(g) * n >= 40;
}

/* Distance in floats between two of the 16 planes of an array whose planes
 * hold `floats` each: rounded up to 1024 floats plus one cache line, so the
 * 16 planes a tile writes or reads at the same offset fall in different
 * cache sets (with a multiple of 4 KiB apart they would all compete for
 * one set of the L1 cache). */
static int64_t plane_stride(int64_t floats)
{
    return (floats + 1023) / 1024 * 1024 + 16;
}

static int64_t tiles_per_sample(const nm_conv_geom *g)
{
    return (int64_t)((g->oh + 1) / 2) * ((g->ow + 1) / 2);
}

/* Samples per chunk so that V and M stay under the cap (at least one). */
static int wino_chunk(const nm_conv_geom *g, int n)
{
    size_t per = (size_t)16 * (size_t)(g->cin + g->cout) * (size_t)tiles_per_sample(g);
    size_t c = per ? WINO_WORK_CAP / per : (size_t)n;
    if (c < 1)
        c = 1;
    return c < (size_t)n ? (int)c : n;
}

size_t nm_winograd_work_floats(const nm_conv_geom *g, int n)
{
    const int64_t T = tiles_per_sample(g) * wino_chunk(g, n);
    return (size_t)(16 * plane_stride((int64_t)g->cin * T) + 16 * plane_stride((int64_t)g->cout * T));
}

size_t nm_winograd_u_floats(const nm_conv_geom *g)
{
    return (size_t)(16 * plane_stride((int64_t)g->cout * g->cin));
}

/* u[xi][o][c] = (G g G^T)[xi] for the 3x3 kernel g of (o, c), with
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
void nm_winograd_weights(const nm_conv_geom *g, const float *w, float *u)
{
    const int64_t plane = (int64_t)g->cout * g->cin, us = plane_stride(plane);
#pragma omp parallel for schedule(static) if (plane * 16 > NM_PAR_MIN)
    for (int64_t oc = 0; oc < plane; oc++) {
        const float *k = w + oc * 9;
        float t[4][3];   /* G g: 4 x 3 */
        for (int j = 0; j < 3; j++) {
            t[0][j] = k[j];
            t[1][j] = 0.5f * (k[j] + k[3 + j] + k[6 + j]);
            t[2][j] = 0.5f * (k[j] - k[3 + j] + k[6 + j]);
            t[3][j] = k[6 + j];
        }
        for (int i = 0; i < 4; i++) {   /* (G g) G^T: 4 x 4 */
            float r[4];
            r[0] = t[i][0];
            r[1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            r[2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            r[3] = t[i][2];
            for (int j = 0; j < 4; j++)
                u[(int64_t)(i * 4 + j) * us + oc] = r[j];
        }
    }
}

/* v[xi][c][t] = (B^T d B)[xi] for every input tile d of samples n0..n0+cn-1,
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]; reads outside the plane
 * are the zero padding. */
static void input_transform(const nm_conv_geom *g, int n, int n0, int cn, const float *x,
                            float *v)
{
    const int th = (g->oh + 1) / 2, tw = (g->ow + 1) / 2;
    const int64_t hw = (int64_t)g->h * g->w, tps = (int64_t)th * tw, T = tps * cn;
    const int64_t vplane = plane_stride((int64_t)g->cin * T), rows = (int64_t)g->cin * cn * th;
#pragma omp parallel for schedule(static) if (rows * tw * 16 > NM_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int c = (int)(r / ((int64_t)cn * th)), s = (int)(r / th % cn), ty = (int)(r % th);
        const float *src = x + ((int64_t)c * n + n0 + s) * hw;
        float *dst = v + (int64_t)c * T + (int64_t)s * tps + (int64_t)ty * tw;
        const int y0 = 2 * ty - g->ph;
        for (int tx = 0; tx < tw; tx++) {
            const int x0 = 2 * tx - g->pw;
            float d[4][4];
            if (y0 >= 0 && y0 + 4 <= g->h && x0 >= 0 && x0 + 4 <= g->w) {
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                        d[i][j] = src[(int64_t)(y0 + i) * g->w + x0 + j];
            } else {
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        int yy = y0 + i, xx = x0 + j;
                        d[i][j] = yy >= 0 && yy < g->h && xx >= 0 && xx < g->w
                                      ? src[(int64_t)yy * g->w + xx] : 0.0f;
                    }
            }
            float e[4][4];   /* B^T d */
            for (int j = 0; j < 4; j++) {
                e[0][j] = d[0][j] - d[2][j];
                e[1][j] = d[1][j] + d[2][j];
                e[2][j] = d[2][j] - d[1][j];
                e[3][j] = d[1][j] - d[3][j];
            }
            float *o = dst + tx;
            for (int i = 0; i < 4; i++) {   /* (B^T d) B */
                o[(int64_t)(i * 4 + 0) * vplane] = e[i][0] - e[i][2];
                o[(int64_t)(i * 4 + 1) * vplane] = e[i][1] + e[i][2];
                o[(int64_t)(i * 4 + 2) * vplane] = e[i][2] - e[i][1];
                o[(int64_t)(i * 4 + 3) * vplane] = e[i][1] - e[i][3];
            }
        }
    }
}

/* y[o] (2x2 blocks of samples n0..) = A^T m A + b[o], A^T = [1 1 1 0;
 * 0 1 -1 -1]; blocks hanging over an odd edge keep only their inside. */
static void output_transform(const nm_conv_geom *g, int n, int n0, int cn, const float *mm,
                             const float *b, float *y)
{
    const int th = (g->oh + 1) / 2, tw = (g->ow + 1) / 2;
    const int64_t p = (int64_t)g->oh * g->ow, tps = (int64_t)th * tw, T = tps * cn;
    const int64_t mplane = plane_stride((int64_t)g->cout * T), rows = (int64_t)g->cout * cn * th;
#pragma omp parallel for schedule(static) if (rows * tw * 16 > NM_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int o = (int)(r / ((int64_t)cn * th)), s = (int)(r / th % cn), ty = (int)(r % th);
        const float *src = mm + (int64_t)o * T + (int64_t)s * tps + (int64_t)ty * tw;
        float *dst = y + ((int64_t)o * n + n0 + s) * p;
        const float bias = b ? b[o] : 0.0f;
        const int oy = 2 * ty;
        for (int tx = 0; tx < tw; tx++) {
            float q[4][4];
            for (int xi = 0; xi < 16; xi++)
                q[xi / 4][xi % 4] = src[(int64_t)xi * mplane + tx];
            float t[2][4];   /* A^T q */
            for (int j = 0; j < 4; j++) {
                t[0][j] = q[0][j] + q[1][j] + q[2][j];
                t[1][j] = q[1][j] - q[2][j] - q[3][j];
            }
            const int ox = 2 * tx;
            for (int i = 0; i < 2 && oy + i < g->oh; i++) {
                float *line = dst + (int64_t)(oy + i) * g->ow + ox;
                line[0] = t[i][0] + t[i][1] + t[i][2] + bias;
                if (ox + 1 < g->ow)
                    line[1] = t[i][1] - t[i][2] - t[i][3] + bias;
            }
        }
    }
}

void nm_conv_winograd_forward(const nm_conv_geom *g, int n, const float *x, const float *u,
                              const float *b, float *y, float *work)
{
    const int chunk = wino_chunk(g, n);
    const int64_t tps = tiles_per_sample(g);
    for (int n0 = 0; n0 < n; n0 += chunk) {
        const int cn = n - n0 < chunk ? n - n0 : chunk;
        const int64_t T = tps * cn;
        const int64_t vs = plane_stride((int64_t)g->cin * T), ms = plane_stride((int64_t)g->cout * T);
        const int64_t us = plane_stride((int64_t)g->cout * g->cin);
        float *v = work, *mm = work + 16 * vs;
        input_transform(g, n, n0, cn, x, v);
        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->cout, (int)T, g->cin, 1.0f,
                        u + xi * us, g->cin, v + xi * vs, (int)T, 0.0f, mm + xi * ms, (int)T);
        output_transform(g, n, n0, cn, mm, b, y);
    }
}
