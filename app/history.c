/* history.c - reading the console's command history file. */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void history_load(const char *path, char **hist, int *n, int max, size_t line_max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *line = malloc(line_max);
    while (line && max > 0 && fgets(line, (int)line_max, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!line[0])
            continue;
        char *copy = strdup(line);
        if (!copy)
            continue;
        if (*n == max) {
            free(hist[0]);
            memmove(hist, hist + 1, (size_t)(max - 1) * sizeof *hist);
            (*n)--;
        }
        hist[(*n)++] = copy;
    }
    free(line);
    fclose(f);
}
