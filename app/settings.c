/* settings.c - key = value settings file. */
#include "settings.h"
#include "error.h"
#include "fileutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void settings_defaults(nm_settings *s)
{
    memset(s, 0, sizeof *s);
    s->theme_dark = 1;
    s->mouse = 1;
    snprintf(s->array_mac, sizeof s->array_mac, "nm");
    s->array_rows = s->array_cols = 16;
    s->nm_n = 2, s->nm_m = 4;
}

const char *settings_path(const char *file, char *buf, int len)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char dir[900];
    if (xdg && xdg[0])
        snprintf(dir, sizeof dir, "%s/nmlab", xdg);
    else if (home && home[0])
        snprintf(dir, sizeof dir, "%s/.config/nmlab", home);
    else
        return NULL;
    /* create the folder and its parent if needed */
    char parent[900];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        mkdir(parent, 0755);
    }
    mkdir(dir, 0755);
    snprintf(buf, (size_t)len, "%s/%s", dir, file);
    return buf;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

void settings_load(nm_settings *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[1200];
    while (fgets(line, sizeof line, f)) {
        char *eq = strchr(line, '=');
        if (!eq || line[0] == '#')
            continue;
        *eq = '\0';
        char *k = trim(line), *v = trim(eq + 1);
        if (strcmp(k, "theme") == 0)
            s->theme_dark = strcmp(v, "light") != 0;
        else if (strcmp(k, "mouse") == 0)
            s->mouse = atoi(v) != 0;
        else if (strcmp(k, "last_model") == 0)
            snprintf(s->last_model, sizeof s->last_model, "%s", v);
        else if (strcmp(k, "array_mac") == 0)
            snprintf(s->array_mac, sizeof s->array_mac, "%s", v);
        else if (strcmp(k, "array_rows") == 0 && atoi(v) > 0 && atoi(v) <= 512)
            s->array_rows = atoi(v);
        else if (strcmp(k, "array_cols") == 0 && atoi(v) > 0 && atoi(v) <= 512)
            s->array_cols = atoi(v);
        else if (strcmp(k, "colours") == 0)
            s->colours = strcmp(v, "8") == 0 ? 1 : strcmp(v, "none") == 0 ? 2 : 0;
        else if (strcmp(k, "default_nm") == 0) {
            int n, m;
            if (sscanf(v, "%d:%d", &n, &m) == 2 && m >= 1 && m <= 64 && n >= 0 && n <= m)
                s->nm_n = n, s->nm_m = m;
        } else if (strcmp(k, "presentation") == 0)
            s->present = atoi(v) != 0;
    }
    fclose(f);
}

int settings_save(const nm_settings *s, const char *path)
{
    nm_atomic_file af;
    if (nm_atomic_begin(&af, path) != NM_OK)
        return NM_ERR;
    fprintf(af.f, "# nmlab settings (written on exit)\n");
    fprintf(af.f, "theme = %s\nmouse = %d\nlast_model = %s\n", s->theme_dark ? "dark" : "light", s->mouse,
            s->last_model);
    fprintf(af.f, "array_mac = %s\narray_rows = %d\narray_cols = %d\n", s->array_mac, s->array_rows,
                s->array_cols);
    fprintf(af.f, "colours = %s\ndefault_nm = %d:%d\npresentation = %d\n",
            s->colours == 1 ? "8" : s->colours == 2 ? "none" : "auto", s->nm_n, s->nm_m, s->present);
    return nm_atomic_commit(&af);
}
