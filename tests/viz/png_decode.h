/* png_decode.h - test helper: decode a PNG with libpng (independently of our
 * writer) and walk its raw chunks. Header-only, for tests/viz. */
#ifndef TESTS_VIZ_PNG_DECODE_H
#define TESTS_VIZ_PNG_DECODE_H

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int w, h;
    uint8_t *rgb;          /* w*h*3 */
    int ntext;
    char key[8][80];
    char *text[8];
    int compression[8];    /* PNG_TEXT_COMPRESSION_NONE or PNG_ITXT_COMPRESSION_NONE */
    int has_time;          /* libpng saw a tIME chunk */
    double dpi;            /* from pHYs, 0 if none */
} test_png;

static inline int test_png_load(const char *path, test_png *im)
{
    memset(im, 0, sizeof *im);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_read_png(png, info, PNG_TRANSFORM_STRIP_16 | PNG_TRANSFORM_STRIP_ALPHA | PNG_TRANSFORM_EXPAND,
                 NULL);
    im->w = (int)png_get_image_width(png, info);
    im->h = (int)png_get_image_height(png, info);
    int ch = png_get_channels(png, info);
    png_bytepp rows = png_get_rows(png, info);
    im->rgb = malloc((size_t)im->w * im->h * 3);
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            for (int c = 0; c < 3; c++)
                im->rgb[((size_t)y * im->w + x) * 3 + c] = rows[y][x * ch + (ch >= 3 ? c : 0)];
    png_textp t;
    int n = 0;
    png_get_text(png, info, &t, &n);
    for (int i = 0; i < n && i < 8; i++) {
        snprintf(im->key[i], sizeof im->key[i], "%s", t[i].key);
        size_t len = t[i].compression == PNG_ITXT_COMPRESSION_NONE ? t[i].itxt_length : t[i].text_length;
        im->text[i] = malloc(len + 1);
        memcpy(im->text[i], t[i].text, len);
        im->text[i][len] = 0;
        im->compression[i] = t[i].compression;
    }
    im->ntext = n < 8 ? n : 8;
    im->has_time = png_get_valid(png, info, PNG_INFO_tIME) != 0;
    png_uint_32 rx, ry;
    int unit;
    if (png_get_pHYs(png, info, &rx, &ry, &unit) && unit == PNG_RESOLUTION_METER)
        im->dpi = rx * 0.0254;
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return 0;
}

static inline void test_png_free(test_png *im)
{
    free(im->rgb);
    for (int i = 0; i < im->ntext; i++)
        free(im->text[i]);
}

/* Pixel as 0xRRGGBB. */
static inline uint32_t test_px(const test_png *im, int x, int y)
{
    const uint8_t *p = im->rgb + ((size_t)y * im->w + x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline const char *test_png_text(const test_png *im, const char *key)
{
    for (int i = 0; i < im->ntext; i++)
        if (strcmp(im->key[i], key) == 0)
            return im->text[i];
    return NULL;
}

/* Counts chunks of the given 4-letter type by walking the file's bytes. */
static inline int test_png_count_chunks(const char *path, const char *type)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char sig[8], hdr[8];
    int count = 0;
    if (fread(sig, 1, 8, f) != 8) {
        fclose(f);
        return -1;
    }
    while (fread(hdr, 1, 8, f) == 8) {
        uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
        if (memcmp(hdr + 4, type, 4) == 0)
            count++;
        if (fseek(f, (long)len + 4, SEEK_CUR) != 0)
            break;
    }
    fclose(f);
    return count;
}

#endif
