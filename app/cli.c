/* cli.c - argument parsing and usage text for nmlab. */
#include "cli.h"
#include "model.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void cli_usage(FILE *f)
{
    fputs("usage: nmlab [OPTIONS] [MODEL]           open MODEL in the workbench (TUI)\n"
          "       nmlab [OPTIONS] run SCRIPT.lua [ARGS...]\n"
          "       nmlab [OPTIONS] -e 'CHUNK' [run SCRIPT.lua [ARGS...]]\n"
          "       nmlab sweep SPEC.lua --db FILE [-j N] [--timeout S] [--retry] [--shard I/K] [--mpi]\n"
          "       nmlab sweep export FILE --csv|--json;  nmlab sweep merge OUT.db IN.db...\n"
          "                                         (docs/sweeps.md; nmlab sweep --help)\n"
          "\n"
          "MODEL is a .safetensors, .onnx or SCALE-Sim .csv file, or a zoo name.\n"
          "Scripts see module `nm` (docs/lua-api.md) and `arg` as the lua\n"
          "interpreter sets it (arg[0] = script, arg[1..] = ARGS).\n"
          "\n"
          "options:\n"
          "  -e CHUNK           run the Lua CHUNK (before SCRIPT, if both are given)\n"
          "  --input CxHxW[,CxHxW...]  input sizes of an ONNX model with symbolic\n"
          "                     dimensions, one per graph input in order (an empty\n"
          "                     entry leaves that input to the file)\n"
          "  --mem-limit SIZE   stop scripts whose memory passes SIZE (e.g. 512M, 2G)\n"
          "  --sandbox          no os.execute/io.popen, files only under this folder,\n"
          "                     memory 1G unless --mem-limit, disk writes 1G unless\n"
          "                     --disk-limit (docs/lua-api.md, Sandbox)\n"
          "  --disk-limit SIZE  with --sandbox: bytes a script may write in all\n"
          "  --tui SCRIPT       run SCRIPT inside the workbench (the screen stays live)\n"
          "  --screen NAME      start on layers, mask, activations, array, energy, console\n"
          "                     or runs\n"
          "  --runs FILE.db     open a sweep's database on the Runs screen (7), which\n"
          "                     follows it live while `nmlab sweep` writes it\n"
          "  --summary          print the model's summary instead of opening the TUI\n"
          "                     (also what happens when stdout is not a terminal)\n"
          "  --frames N         batch mode: render N frames without a terminal, print\n"
          "                     the last one (smoke tests); --keys K1,K2 feeds keys\n"
          "                     (names: Up Down Left Right Enter Tab Esc Space F1..F10,\n"
          "                     single characters, or 'text to type)\n"
          "  --scalesim-out DIR simulate MODEL as SCALE-Sim v3 would (pMAC 32x32, ws, 64 KB\n"
          "                     SRAMs, CALC bandwidth: its scale.cfg; its memory system\n"
          "                     replayed) and write its\n"
          "                     COMPUTE/BANDWIDTH/DETAILED_ACCESS_REPORT.csv into DIR\n"
          "                     (other settings: report:scalesim in docs/lua-api.md)\n"
          "  -h, --help         this text\n"
          "  -V, --version      version\n"
          "\n"
          "Ctrl-C cancels a running script (exit status 130).\n", f);
}

int cli_parse_inputs(const char *s, int sizes[][3], int cap)
{
    int n = 0, any = 0;
    for (const char *p = s;; n++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n >= cap || len >= 64)
            return -1;
        sizes[n][0] = sizes[n][1] = sizes[n][2] = 0;
        if (len) {
            char buf[64], tail;
            int c, h, w;
            memcpy(buf, p, len);
            buf[len] = 0;
            if (sscanf(buf, "%dx%dx%d%c", &c, &h, &w, &tail) != 3 || c < 1 || h < 1 || w < 1 ||
                c > (1 << 24) || h > (1 << 24) || w > (1 << 24))
                return -1;
            sizes[n][0] = c, sizes[n][1] = h, sizes[n][2] = w;
            any = 1;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return any ? n + 1 : -1;
}

int cli_parse_size(const char *s, size_t *bytes)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno != 0 || *s == '-')
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -1;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end != '\0' || v > (SIZE_MAX >> shift))
        return -1;
    *bytes = (size_t)(v << shift);
    return 0;
}

/* The value of option argv[*i] ("--opt=V" or "--opt V"); NULL if missing. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (*i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int opt_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

/* --scalesim-out DIR MODEL becomes a Lua chunk (long-bracket strings; a
 * name holding "]=]" is refused). */
static char scalesim_chunk[2 * 4096 + 512];

static int scalesim_out(cli_options *o, const char *dir, char *err, size_t errlen)
{
    if (!o->model || o->chunk || o->mode != CLI_SHELL) {
        snprintf(err, errlen, "--scalesim-out DIR needs a MODEL (and no -e or run)");
        return -1;
    }
    if (strstr(dir, "]=]") || strstr(o->model, "]=]") || strlen(dir) > 4000 ||
        strlen(o->model) > 4000) {
        snprintf(err, errlen, "--scalesim-out: unsupported file name");
        return -1;
    }
    snprintf(scalesim_chunk, sizeof scalesim_chunk,
             "local m, e = nm.load([=[%s]=])\n"
             "if not m then error('--scalesim-out: ' .. e, 0) end\n"
             "local sys = nm.sim.system{mac = 'pmac', rows = 32, cols = 32, dataflow = 'ws',\n"
             "  compat = 'scalesim', sram_kb = {ifmap = 64, filter = 64, ofmap = 64}, bandwidth = 'calc',\n"
             "  scalesim_replay = true}\n"
             "local ok, r = pcall(sys.run, sys, m)\n"
             "if not ok then error('--scalesim-out: ' .. tostring(r), 0) end\n"
             "ok, e = r:scalesim([=[%s]=])\n"
             "if not ok then error('--scalesim-out: ' .. e, 0) end\n",
             o->model, dir);
    o->chunk = scalesim_chunk;
    o->model = NULL;
    o->mode = CLI_RUN;
    return 0;
}

int cli_parse(int argc, char **argv, cli_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    const char *scalesim_dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opt_is(a, "--scalesim-out")) {
            if (!(scalesim_dir = option_value(argc, argv, &i, "--scalesim-out"))) {
                snprintf(err, errlen, "--scalesim-out needs a directory");
                return -1;
            }
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->mode = CLI_HELP;
            return 0;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            o->mode = CLI_VERSION;
            return 0;
        } else if (strcmp(a, "--sandbox") == 0) {
            o->sandbox = 1;
        } else if (opt_is(a, "--mem-limit")) {
            const char *v = option_value(argc, argv, &i, "--mem-limit");
            if (v == NULL || cli_parse_size(v, &o->mem_limit) != 0 || o->mem_limit == 0) {
                snprintf(err, errlen, "--mem-limit needs a size like 512M or 2G, not '%s'",
                         v ? v : "");
                return -1;
            }
        } else if (opt_is(a, "--input")) {
            const char *v = option_value(argc, argv, &i, "--input");
            int sizes[NM_MAX_GRAPH_INPUTS][3];
            if (!v || cli_parse_inputs(v, sizes, NM_MAX_GRAPH_INPUTS) < 0) {
                snprintf(err, errlen, "--input needs a size like 3x224x224 (CxHxW), or one per "
                         "graph input like 3x224x224,16x1x1 (at most %d), not '%s'",
                         NM_MAX_GRAPH_INPUTS, v ? v : "");
                return -1;
            }
            o->input = v;
        } else if (opt_is(a, "--disk-limit")) {
            const char *v = option_value(argc, argv, &i, "--disk-limit");
            if (v == NULL || cli_parse_size(v, &o->disk_limit) != 0 || o->disk_limit == 0) {
                snprintf(err, errlen, "--disk-limit needs a size like 512M or 2G, not '%s'",
                         v ? v : "");
                return -1;
            }
        } else if (opt_is(a, "--runs")) {
            if (!(o->runs = option_value(argc, argv, &i, "--runs"))) {
                snprintf(err, errlen, "--runs needs a sweep database: --runs FILE.db");
                return -1;
            }
        } else if (opt_is(a, "--tui") || opt_is(a, "--keys") || opt_is(a, "--screen")) {
            const char *name = a[2] == 't' ? "--tui" : a[2] == 'k' ? "--keys" : "--screen";
            const char *v = option_value(argc, argv, &i, name);
            if (v == NULL) {
                snprintf(err, errlen, "%s needs a value", name);
                return -1;
            }
            *(name[2] == 't' ? &o->tui_script : name[2] == 'k' ? &o->keys : &o->screen) = v;
        } else if (opt_is(a, "--frames")) {
            const char *v = option_value(argc, argv, &i, "--frames");
            char *end = NULL;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || n < 1 || n > 1000000) {
                snprintf(err, errlen, "--frames needs a count from 1 to 1000000, not '%s'", v ? v : "");
                return -1;
            }
            o->frames = (int)n;
        } else if (strcmp(a, "--summary") == 0) {
            o->summary = 1;
        } else if (strcmp(a, "-e") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "-e needs a chunk of Lua");
                return -1;
            }
            o->chunk = argv[++i];
            o->mode = CLI_RUN;
        } else if (strcmp(a, "run") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "run needs a script: nmlab run SCRIPT.lua [ARGS...]");
                return -1;
            }
            o->script = i + 1;
            o->mode = CLI_RUN;
            return 0;            /* everything after the script is its own */
        } else if (a[0] == '-' && a[1] != '\0') {
            snprintf(err, errlen, "unknown option '%s' (see nmlab --help)", a);
            return -1;
        } else if (strcmp(a, "sweep") == 0 && o->model == NULL && o->mode == CLI_SHELL) {
            /* main() hands "nmlab sweep ..." to sweep_main before this parser */
            snprintf(err, errlen, "'sweep' must come first, its options after it: "
                                  "nmlab sweep SPEC.lua --db FILE [--mem-limit SIZE] [--sandbox] ...");
            return -1;
        } else if (o->model == NULL && o->mode == CLI_SHELL) {
            o->model = a;
        } else {
            snprintf(err, errlen, "unexpected argument '%s' (see nmlab --help)", a);
            return -1;
        }
    }
    return scalesim_dir ? scalesim_out(o, scalesim_dir, err, errlen) : 0;
}
