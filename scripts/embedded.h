/* embedded.h - the Lua-side library compiled into the binary.
 *
 * The table is generated at build time by scripts/embed.c from
 * scripts/lua/ (see scripts/meson.build); the host's package searcher
 * (host.c) loads modules from it. */
#ifndef NMLUA_EMBEDDED_H
#define NMLUA_EMBEDDED_H

#include <stddef.h>

typedef struct {
    const char *name;            /* module name, "nm.test" */
    const unsigned char *source; /* Lua source text (NUL-terminated) */
    long len;                    /* bytes, without the NUL */
} nmlua_embedded;

/* Terminated by an entry whose name is NULL. */
extern const nmlua_embedded nmlua_embedded_modules[];

#endif
