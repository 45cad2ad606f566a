/* png_write.c - RGB24 cairo surface -> PNG file, atomically, reproducibly. */
#include "png_write.h"

#include "error.h"
#include "fileutil.h"

#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

/* libpng reports errors through this callback; we keep its message and
 * jump back to the setjmp in viz_png_write. */
static void on_png_error(png_structp png, png_const_charp msg)
{
    nm_seterr("libpng: %s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* PNG keywords: 1-79 printable Latin-1 characters, no leading, trailing or
 * double spaces. We allow the printable ASCII subset. */
static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > 79 || k[0] == ' ' || k[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < 32 || k[i] > 126)
            return 0;
        if (k[i] == ' ' && k[i + 1] == ' ')
            return 0;
    }
    return 1;
}

static int little_endian(void)
{
    const uint32_t one = 1;
    return *(const unsigned char *)&one == 1;
}

int viz_png_write(cairo_surface_t *surface, const char *path,
                  const viz_png_text *texts, int n_texts, double dpi)
{
    if (!surface || cairo_surface_get_type(surface) != CAIRO_SURFACE_TYPE_IMAGE ||
        cairo_image_surface_get_format(surface) != CAIRO_FORMAT_RGB24)
        return nm_seterr("%s: not an RGB24 image surface", path);
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS)
        return nm_seterr("%s: cairo: %s", path,
                         cairo_status_to_string(cairo_surface_status(surface)));
    if (n_texts < 0 || n_texts > 32)
        return nm_seterr("%s: %d text chunks (0..32 allowed)", path, n_texts);
    for (int i = 0; i < n_texts; i++)
        if (!texts[i].key || !key_ok(texts[i].key) || !texts[i].text)
            return nm_seterr("%s: bad PNG text keyword '%s'", path,
                             texts[i].key ? texts[i].key : "(null)");

    cairo_surface_flush(surface);
    int width = cairo_image_surface_get_width(surface);
    int height = cairo_image_surface_get_height(surface);
    int stride = cairo_image_surface_get_stride(surface);
    unsigned char *data = cairo_image_surface_get_data(surface);
    if (!data || width <= 0 || height <= 0)
        return nm_seterr("%s: empty surface", path);

    nm_atomic_file af;
    if (nm_atomic_begin(&af, path) != NM_OK)
        return NM_ERR;

    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        nm_atomic_abort(&af);
        return nm_seterr("%s: out of memory starting libpng", path);
    }
    png_text chunks[32];
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        nm_atomic_abort(&af);
        return nm_preperr(path);
    }
    png_init_io(png, af.f);
    /* Fixed settings so the bytes do not depend on libpng's defaults. The
     * Up filter alone: plots repeat rows (flat areas, bars, cells), so it
     * gives files within 3% of libpng's adaptive choice at about half the
     * time (tests/viz/bench_plot, docs/results.md). */
    png_set_compression_level(png, 6);
    png_set_filter(png, 0, PNG_FILTER_UP);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (dpi > 0) {
        png_uint_32 ppm = (png_uint_32)(dpi / 0.0254 + 0.5);
        png_set_pHYs(png, info, ppm, ppm, PNG_RESOLUTION_METER);
    }
    memset(chunks, 0, sizeof chunks);
    for (int i = 0; i < n_texts; i++) {
        chunks[i].key = (png_charp)texts[i].key;
        chunks[i].text = (png_charp)texts[i].text;
        chunks[i].text_length = strlen(texts[i].text);
        if (is_ascii(texts[i].text)) {
            chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
        } else {
            chunks[i].compression = PNG_ITXT_COMPRESSION_NONE;
            chunks[i].lang = (png_charp)"";
            chunks[i].lang_key = (png_charp)"";
            chunks[i].itxt_length = chunks[i].text_length;
            chunks[i].text_length = 0;
        }
    }
    if (n_texts > 0)
        png_set_text(png, info, chunks, n_texts);
    png_write_info(png, info);
    /* 0x00RRGGBB words: B,G,R,X in memory on little-endian, X,R,G,B on big. */
    if (little_endian()) {
        png_set_bgr(png);
        png_set_filler(png, 0, PNG_FILLER_AFTER);
    } else {
        png_set_filler(png, 0, PNG_FILLER_BEFORE);
    }
    for (int y = 0; y < height; y++)
        png_write_row(png, data + (size_t)y * (size_t)stride);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return nm_atomic_commit(&af);
}
