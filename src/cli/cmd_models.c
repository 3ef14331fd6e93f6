/*
 * cmd_models.c - `facekit models fetch|list|verify`: the model home.
 *
 * `list` prints every fact of each model's description (fk_models_list),
 * as text or, with --json, as an array of objects with the same fields.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void log_line(void *user, const char *msg) {
    (void)user;
    fprintf(stderr, "%s\n", msg);
}

static const char *const METRIC_NAMES[4] = {"cosine", "euclidean", "euclidean_l2", "angular"};

static json_t *model_json(const fk_model_info *m) {
    json_t *files = json_array();
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", m->files);
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        json_array_append_new(files, json_string(t));
    json_t *o = json_pack("{s:s, s:s, s:b, s:o, s:s, s:i, s:i, s:s, s:s, s:s, s:i, s:s}",
                          "name", m->name, "role", m->role, "installed", m->installed,
                          "files", files, "input", m->input, "input_width", m->input_width,
                          "input_height", m->input_height, "layout", m->layout,
                          "normalization", m->normalization, "output", m->output,
                          "output_dim", m->output_dim, "chip", m->chip);
    if (m->has_thresholds) {
        json_t *t = json_object();
        for (int k = 0; k < 4; k++)
            json_object_set_new(t, METRIC_NAMES[k], json_real(m->thresholds[k]));
        json_object_set_new(o, "thresholds", t);
    } else {
        json_object_set_new(o, "thresholds", json_null());
    }
    json_object_set_new(o, "summary", json_string(m->summary));
    json_object_set_new(o, "origin", json_string(m->origin));
    json_object_set_new(o, "license", json_string(m->license));
    return o;
}

static void model_text(const fk_model_info *m) {
    printf("\n%s  (%s)  installed: %s\n", m->name, m->role,
           m->installed ? "yes" : "no (run `facekit models fetch`)");
    printf("  %s\n", m->summary);
    printf("  input: %s\n", m->input);
    printf("  layout: %s\n  normalization: %s\n", m->layout, m->normalization);
    if (m->chip[0]) printf("  chip: %s\n", m->chip);
    if (m->output_dim)
        printf("  output: %s (%d values)\n", m->output, m->output_dim);
    else
        printf("  output: %s\n", m->output);
    if (m->has_thresholds)
        printf("  thresholds: cosine %.4g, euclidean %.6g, euclidean_l2 %.4g, angular %.4g\n",
               m->thresholds[0], m->thresholds[1], m->thresholds[2], m->thresholds[3]);
    printf("  files: %s\n  origin: %s\n  licence: %s\n", m->files, m->origin, m->license);
}

int cmd_models(cli_args *a) {
    const char *sub = a->npositional == 1 ? a->positional[0] : "";
    if (strcmp(sub, "fetch") && strcmp(sub, "list") && strcmp(sub, "verify")) {
        fprintf(stderr, "facekit: usage: facekit models fetch|list|verify\n");
        return 2;
    }
    char home[PATH_MAX];
    if (fk_models_default_home(home, sizeof home) != FK_OK) return cli_fail();
    if (!strcmp(sub, "fetch")) {
        if (fk_models_fetch(home, a->quiet ? NULL : log_line, NULL) != FK_OK) return cli_fail();
        if (!a->quiet) fprintf(stderr, "models installed in %s\n", home);
        return 0;
    }
    if (!strcmp(sub, "verify")) {
        if (fk_models_verify(home, a->quiet ? NULL : log_line, NULL) != FK_OK) return cli_fail();
        if (!a->quiet) fprintf(stderr, "every installed model file in %s is intact\n", home);
        return 0;
    }
    fk_model_info infos[64];
    int n = 0;
    if (fk_models_list(home, infos, 64, &n) != FK_OK) return cli_fail();
    if (n > 64) n = 64;
    if (a->json) {
        json_t *list = json_array();
        for (int i = 0; i < n; i++) json_array_append_new(list, model_json(&infos[i]));
        cli_print_json(list);
        return 0;
    }
    printf("model home: %s\n", home);
    for (int i = 0; i < n; i++) model_text(&infos[i]);
    return 0;
}
