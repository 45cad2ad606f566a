/* cli.h - the nmlab command line: what to do, parsed from argv. */
#ifndef NMLAB_CLI_H
#define NMLAB_CLI_H

#include <stddef.h>
#include <stdio.h>

/* The model nmlab opens when none is named: the trained Fashion-MNIST CNN
 * shipped in the source tree, NMLAB_DEFAULT_MODEL_FILE, looked up in the
 * current folder and then under NMLAB_SOURCE_ROOT (examples/train_fmnist.lua
 * makes it); if neither exists, the zoo model NMLAB_DEFAULT_MODEL with
 * synthetic weights (seed 1), and the status/summary says so. */
#define NMLAB_DEFAULT_MODEL "fmnist_cnn"
#define NMLAB_DEFAULT_MODEL_FILE "examples/models/fmnist_cnn.safetensors"

typedef enum {
    CLI_SHELL = 0,      /* nmlab [MODEL]: the TUI, or a summary when stdout is no terminal */
    CLI_RUN,            /* nmlab run SCRIPT [ARGS...] and/or -e CHUNK */
    CLI_HELP,
    CLI_VERSION
} cli_mode;

typedef struct {
    cli_mode mode;
    size_t mem_limit;       /* --mem-limit, bytes; 0 = none */
    int sandbox;            /* --sandbox */
    size_t disk_limit;      /* --disk-limit, bytes; 0 = the sandbox's default */
    const char *chunk;      /* -e CHUNK, or NULL */
    const char *model;      /* nmlab MODEL, or NULL */
    int script;             /* argv index of the script, 0 if none */
    const char *tui_script; /* --tui SCRIPT: run inside the workbench */
    int frames;             /* --frames N: render N frames headless, print the last */
    const char *keys;       /* --keys K1,K2,...: keys fed in --frames mode */
    const char *screen;     /* --screen NAME: start screen */
    const char *runs;       /* --runs FILE.db: a sweep database on the Runs screen */
    int summary;            /* --summary: print the model summary, no TUI */
    const char *input;      /* --input CxHxW[,CxHxW...]: input sizes (graph order) for
                               models with symbolic dims; checked by cli_parse_inputs */
} cli_options;

/* Parses argv. Returns 0, or -1 with a message in err (usage error). */
int cli_parse(int argc, char **argv, cli_options *o, char *err, size_t errlen);

/* Parses --input's value: comma-separated CxHxW sizes, one per graph
 * input in graph order; an empty entry (",16x1x1") leaves that input to
 * the file (zeros in sizes[k]). Returns the number of entries (1..cap),
 * or -1 when an entry is malformed, every entry is empty, or there are
 * more than cap. */
int cli_parse_inputs(const char *s, int sizes[][3], int cap);

/* Parses "64M", "512k", "2G", "1000000" into bytes. Returns -1 if invalid. */
int cli_parse_size(const char *s, size_t *bytes);

void cli_usage(FILE *f);

#endif
