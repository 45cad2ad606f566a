/* settings.h - settings that persist between sessions, in
 * $XDG_CONFIG_HOME/nmlab/settings.conf (default ~/.config/nmlab), as
 * "key = value" lines. Saved atomically on every exit path. */
#ifndef SETTINGS_H
#define SETTINGS_H

typedef struct {
    int theme_dark;
    int mouse;
    char last_model[1024];
    char array_mac[16];     /* pmac, bmac, nm */
    int array_rows, array_cols;
    int colours;            /* 0 as the terminal allows, 1 at most 8, 2 none */
    int nm_n, nm_m;         /* default N:M of the prune form */
    int present;            /* presentation mode: larger cells, high contrast */
} nm_settings;

void settings_defaults(nm_settings *s);
/* Path of a file in nmlab's config folder (created if missing) into buf;
 * returns buf, or NULL if no folder can be made. */
const char *settings_path(const char *file, char *buf, int len);
/* Loads what the file has; unknown keys and bad lines are ignored. */
void settings_load(nm_settings *s, const char *path);
/* NM_OK or NM_ERR (message set). */
int settings_save(const nm_settings *s, const char *path);

#endif
