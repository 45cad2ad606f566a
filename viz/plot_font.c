/* plot_font.c - a fixed TrueType file as a cairo font face, through cairo-ft.
 *
 * We never use the toy API's name lookup: the font is one file, so the text
 * (and the PNG bytes) do not depend on fontconfig. One FreeType library
 * serves the process; FreeType asks that creating and freeing faces on it be
 * serialised, so both go under a mutex (cairo frees the face whenever it
 * drops its last reference to the font face, through the user-data hook). */
#include "plot_internal.h"

#include <cairo-ft.h>
#include <errno.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

static pthread_mutex_t ft_lock = PTHREAD_MUTEX_INITIALIZER;
static FT_Library ft_lib;
static int ft_ready;
static const cairo_user_data_key_t face_key;

static void face_done(void *face)
{
    pthread_mutex_lock(&ft_lock);
    FT_Done_Face((FT_Face)face);
    pthread_mutex_unlock(&ft_lock);
}

cairo_font_face_t *plot_font_load(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        nm_seterr("font %s: %s (install the package fonts-dejavu-core)", path,
                  strerror(errno));
        return NULL;
    }
    FT_Face face = NULL;
    pthread_mutex_lock(&ft_lock);
    int err = 0;
    if (!ft_ready) {
        err = FT_Init_FreeType(&ft_lib);
        ft_ready = err == 0;
    }
    if (!err)
        err = FT_New_Face(ft_lib, path, 0, &face);
    pthread_mutex_unlock(&ft_lock);
    if (err) {
        nm_seterr("font %s: FreeType cannot load it (error %d)", path, err);
        return NULL;
    }
    cairo_font_face_t *ff = cairo_ft_font_face_create_for_ft_face(face, 0);
    if (cairo_font_face_status(ff) != CAIRO_STATUS_SUCCESS ||
        cairo_font_face_set_user_data(ff, &face_key, face, face_done) != CAIRO_STATUS_SUCCESS) {
        nm_seterr("font %s: cairo: %s", path,
                  cairo_status_to_string(cairo_font_face_status(ff)));
        cairo_font_face_destroy(ff);
        face_done(face);
        return NULL;
    }
    return ff;
}
