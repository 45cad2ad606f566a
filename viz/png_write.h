/* png_write.h - our PNG writer for cairo RGB24 surfaces.
 *
 * Rows go straight from the surface to libpng (no copy of the image): cairo
 * keeps RGB24 pixels as native-endian 32-bit 0x00RRGGBB words, which libpng
 * takes with png_set_bgr + png_set_filler(PNG_FILLER_AFTER) on little-endian
 * machines. The file is written to a temporary name and renamed into place
 * (engine/fileutil.h), so a failure never leaves a partial file. No tIME
 * chunk is written: the same surface and texts give the same bytes. */
#ifndef VIZ_PNG_WRITE_H
#define VIZ_PNG_WRITE_H

#include <cairo.h>

/* One text chunk: keyword (1-79 Latin-1 characters, PNG rules) and its
 * UTF-8 text. Pure-ASCII text goes in a tEXt chunk, anything else in iTXt. */
typedef struct {
    const char *key;
    const char *text;
} viz_png_text;

/* Writes an RGB24 image surface as an 8-bit RGB PNG at `path`, with the
 * given text chunks (in order) and a pHYs chunk for `dpi` (skipped if dpi
 * <= 0). Flushes the surface first. NM_OK, or NM_ERR with a message naming
 * path; on failure no file and no temporary file is left. */
int viz_png_write(cairo_surface_t *surface, const char *path,
                  const viz_png_text *texts, int n_texts, double dpi);

#endif
