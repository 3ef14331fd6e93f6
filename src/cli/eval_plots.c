/*
 * eval_plots.c - `facekit eval`'s files: every pair's distances as CSV
 * (--pairs-csv), the ROC curves as SVG (--roc) and the sweep's Markdown
 * table (--sweep [--markdown F]).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/eval.h"

/* Write a CSV field, quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *v) {
    if (!strpbrk(v, ",\"\n\r")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"') fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

/* Every pair with its label, fold and distance under each metric; skipped
 * pairs have empty distances and a note saying why. */
void eval_write_pairs_csv(FILE *f, const eval_set *s, const eval_run *r) {
    fprintf(f, "line,file_x,file_y,label,fold");
    for (int m = 0; m < r->nmetrics; m++) fprintf(f, ",%s", r->m[m].metric);
    fprintf(f, ",note\n");
    for (int i = 0; i < s->npairs; i++) {
        const eval_pair *p = &s->pairs[i];
        const eval_image *x = &s->images[p->a], *y = &s->images[p->b];
        fprintf(f, "%d,", p->line);
        csv_field(f, x->name);
        fputc(',', f);
        csv_field(f, y->name);
        fprintf(f, ",%d,", p->same);
        if (s->folds) fprintf(f, "%d", p->fold + 1);
        for (int m = 0; m < r->nmetrics; m++) {
            if (isnan(r->m[m].dist[i])) fprintf(f, ",");
            else fprintf(f, ",%.6f", r->m[m].dist[i]);
        }
        fputc(',', f);
        const eval_image *bad = x->missing || x->failed ? x : y->missing || y->failed ? y : NULL;
        if (bad) fprintf(f, "skipped: %s %s", bad->name, bad->missing ? "missing" : "unreadable");
        else if (x->fallback || y->fallback)
            fprintf(f, "no face found in %s: whole image used", x->fallback ? x->name : y->name);
        fputc('\n', f);
    }
}

/* Write s with &, <, > and " escaped for XML text and attributes. */
static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* The ROC curves of r as an SVG a browser opens: TAR against FAR, FAR on a
 * log axis (the region that matters for verification is small FAR), one
 * curve per metric, dashed differently because cosine, euclidean_l2 and
 * angular rank pairs identically and so draw the same curve. Points with
 * FAR 0 sit on the left edge. */
void eval_write_roc_svg(FILE *f, const eval_set *s, const eval_run *r) {
    static const char *colour[NMETRICS] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
    static const char *dash[NMETRICS] = {"none", "8,4", "3,3", "1,5"};
    const double W = 720, H = 540, L = 70, R = 690, T = 60, B = 480;
    int decades = (int)ceil(log10(r->different > 1 ? r->different : 10));
    if (decades < 1) decades = 1;
    if (decades > 6) decades = 6;
    double lo = -decades; /* log10 of the left edge */
#define X(far) (L + (R - L) * ((log10((far) > pow(10, lo) ? (far) : pow(10, lo)) - lo) / -lo))
#define Y(tar) (B - (B - T) * (tar))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">ROC: %s, detector %s, "
               "align %s</text>\n",
            W / 2, r->model, r->detector, r->align ? "true" : "false");
    fprintf(f, "<text x=\"%.0f\" y=\"42\" text-anchor=\"middle\" fill=\"#555\">", W / 2);
    xml_text(f, s->file);
    fprintf(f, ": %d pairs (%d same, %d different)</text>\n", r->used, r->same, r->different);
    for (int k = 0; k <= decades; k++) { /* vertical grid: one line per decade */
        double x = X(pow(10, lo + k));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", x, T, x, B);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%g</text>\n", x, B + 16,
                pow(10, lo + k));
    }
    for (int k = 0; k <= 10; k++) { /* horizontal grid every 0.1 */
        double y = Y(k / 10.0);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y, R, y);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", L - 6, y + 4, k / 10.0);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#333\"/>\n",
            L, T, R - L, B - T);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">false accept rate (log scale)</text>\n",
            (L + R) / 2, B + 36);
    fprintf(f, "<text transform=\"translate(18 %.0f) rotate(-90)\" text-anchor=\"middle\">true accept "
               "rate</text>\n",
            (T + B) / 2);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#aaa\" stroke-dasharray=\"2,4\" points=\""); /* chance */
    for (int k = 0; k <= 60; k++) {
        double far = pow(10, lo * (1 - k / 60.0));
        fprintf(f, "%.1f,%.1f ", X(far), Y(far));
    }
    fprintf(f, "\"/>\n");
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"290\" height=\"%d\" fill=\"white\" "
               "stroke=\"#ccc\"/>\n", /* the legend's box, over the chance line */
            R - 298, B - 36 - 18.0 * (r->nmetrics - 1), 18 * r->nmetrics + 8);
    for (int m = 0; m < r->nmetrics; m++) {
        const metric_eval *e = &r->m[m];
        int c = 0;
        while (c < NMETRICS && strcmp(eval_metrics[c], e->metric)) c++;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"%s\" points=\"",
                colour[c], dash[c]);
        for (int i = 0; i < e->nroc; i++) fprintf(f, "%.1f,%.1f ", X(e->roc[i].far), Y(e->roc[i].tar));
        fprintf(f, "\"/>\n");
        double ly = B - 20 - 18.0 * (r->nmetrics - 1 - m);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"2\" "
                   "stroke-dasharray=\"%s\"/>\n",
                R - 290, ly - 4, R - 260, ly - 4, colour[c], dash[c]);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">%s: AUC %.4f, EER %.2f%%</text>\n", R - 252, ly, e->metric,
                e->s.auc, 100 * e->s.eer);
    }
    fprintf(f, "</svg>\n");
#undef X
#undef Y
}


/* The sweep's Markdown: how it was made, an accuracy table in the spirit of
 * deepface's benchmarks (rows model x detector x align, columns metric),
 * then every figure of every configuration. */
void eval_write_markdown(FILE *f, const eval_set *s, eval_run *runs, int nruns, int threads,
                           double total, const char *grid_flags) {
    char a[16], b[16], c[16], d[16], e[16], g[16], h[16];
    fprintf(f, "# facekit verification benchmark\n\n");
    fprintf(f, "Pairs: `%s` (%s, %d pairs: %d same, %d different; %d images%s).  \n", s->file,
            s->csv ? "CSV" : "LFW", s->npairs, runs[0].same, runs[0].different, s->nimages,
            s->folds ? ", with folds" : "");
    fprintf(f, "Command: `facekit eval --sweep --pairs %s --images %s%s` (facekit %s, %d threads, %.0f s in all).\n\n",
            s->file, s->dir, grid_flags, FK_VERSION, threads, total);
    fprintf(f, "A pair is the same person when distance <= threshold. *Accuracy* is at the threshold that is "
               "best on these pairs (optimistic: tuned on the test data)%s. Images where the detector found "
               "no face were embedded whole (as `--detector skip`); a pair's distance is that of its closest "
               "two faces, as `facekit verify` decides. Each detector's pass decodes and detects every image once, "
               "then aligns and embeds it with every model of the grid (*detector pass* is that pass's time).\n\n",
            runs[0].folds ? "; *k-fold* chooses it on the other folds (LFW protocol)" : "");
    fprintf(f, "## Accuracy (%%)\n\n| model | detector | align |");
    for (int m = 0; m < runs[0].nmetrics; m++) fprintf(f, " %s |", runs[0].m[m].metric);
    fprintf(f, "\n|---|---|---|");
    for (int m = 0; m < runs[0].nmetrics; m++) fprintf(f, "---|");
    fprintf(f, "\n");
    for (int i = 0; i < nruns; i++) {
        /* One row per embedding set, one column per metric: the metrics
         * share embeddings, so a row compares them on equal terms. */
        fprintf(f, "| %s | %s | %s |", runs[i].model, runs[i].detector, runs[i].align ? "true" : "false");
        for (int m = 0; m < runs[i].nmetrics; m++)
            fprintf(f, " %s |", runs[i].folds ? eval_pct(a, runs[i].m[m].s.fold_accuracy_mean)
                                              : eval_pct(a, runs[i].m[m].s.best_accuracy));
        fprintf(f, "\n");
    }
    fprintf(f, "\n%s\n\n## All figures\n\n",
            runs[0].folds ? "(k-fold accuracy)" : "(accuracy at the best threshold)");
    fprintf(f, "| model | detector | align | metric | accuracy %% | best threshold | shipped threshold | "
               "accuracy at shipped %% | k-fold %% | AUC | TAR@FAR=1e-2 %% | TAR@FAR=1e-3 %% | EER %% | "
               "no face | detector pass |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nruns; i++)
        for (int m = 0; m < runs[i].nmetrics; m++) {
            const metric_eval *x = &runs[i].m[m];
            char kf[40] = "-";
            if (runs[i].folds)
                snprintf(kf, sizeof kf, "%.2f ± %.2f", 100 * x->s.fold_accuracy_mean,
                         100 * x->s.fold_accuracy_std);
            fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.4f | %s | %s | %s | %d | %.0f s |\n",
                    runs[i].model, runs[i].detector, runs[i].align ? "true" : "false", x->metric,
                    eval_pct(a, x->s.best_accuracy), eval_thr(b, x->s.best_threshold), eval_thr(c, x->shipped),
                    eval_pct(d, x->shipped_accuracy), kf, x->s.auc, eval_pct(e, x->s.tar_at_far_1e2),
                    eval_pct(g, x->s.tar_at_far_1e3), eval_pct(h, x->s.eer), runs[i].without_face, runs[i].seconds);
        }
}

