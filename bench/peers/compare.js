// compare.js - facekit against its peers under TensorFlow.js (wasm) in one
// run, on the same inputs, with the same weights; prints one table with the
// ratios and PASS/MISS against the speed targets of issues 5 and 14.
//
//   node bench/peers/compare.js BUILD_DIR MODEL_HOME [LFW_DIR] [LFW_COUNT]
//
// MODEL_HOME is facekit's model home (face-api/, human-models/). Runs, in
// this order: BUILD_DIR/bench_models --json (sgemm ceiling, every model at
// batch 1 and 8 on 1 thread and on every core, verify of face-api's
// sample1.jpg + sample3.jpg, represent over the first LFW_COUNT images of
// LFW_DIR), BUILD_DIR/bench_pipeline --json (stages on sample1.jpg; analyze
// with every action and the default models on the first of those LFW images
// and on sample1.jpg), then faceapi.js and human.js on the same inputs (for
// analyze: the same graph files on the same crops of the faces facekit
// found, from the pixels facekit decoded: face-api's own nets and cut for
// the FaceApi-* analyzers, the graph files for the others; an analyze row
// whose peer lacks any model facekit ran is a MISS, never a partial sum).
// The peers run on one wasm
// thread (tfjs-backend-wasm has no threads in Node). Ratios are peer time /
// facekit time (for represent: facekit images/s / peer images/s): above 1
// means facekit is faster.
//
// Then the speed anchor of issue 16 (anchor.js): deepface's seminal
// architectures under facekit and under ONNX Runtime's native CPU engine.

'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [buildDir, home, lfwArg, countArg] = process.argv.slice(2);
if (!buildDir || !home) {
  console.error('usage: node compare.js BUILD_DIR MODEL_HOME [LFW_DIR] [LFW_COUNT]');
  process.exit(2);
}
const faceapiDir = path.join(home, 'face-api');
const humanDir = path.join(home, 'human-models');
const photo = path.join(faceapiDir, 'sample1.jpg');
const pair = [photo, path.join(faceapiDir, 'sample3.jpg')];
const lfwDir = lfwArg || path.join(__dirname, '..', '..', '..', 'shared', 'data', 'lfw-devtrain', 'images');
const lfwCount = countArg || '60';
const RUNS = '7';

const run = (cmd, args, env) => JSON.parse(execFileSync(cmd, args, { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'], env: env || process.env }));
const node = (script, args) => run(process.execPath, [path.join(__dirname, script), ...args]);

const load = fs.readFileSync('/proc/loadavg', 'utf8').trim();
const fk = run(path.join(buildDir, 'bench_models'), ['--json', '--runs', RUNS, '--pair', ...pair, '--lfw', lfwDir, '--lfw-count', lfwCount]);
// The ceiling is the best sgemm this machine offers. bench_models reports
// the better of facekit's own product and OpenBLAS's, with the kernels
// OpenBLAS was told to use: an OPENBLAS_CORETYPE in the environment (this
// machine's sets Haswell, OpenBLAS's AVX2 kernels, on an AVX-512 CPU) holds
// OpenBLAS below what the CPU can do. The variable is read when the library
// loads, so a second process measures OpenBLAS with its own choice of
// kernels for this CPU, and the better figure is the ceiling.
const ceilings = [`${fk.sgemm_gflops[1].toFixed(1)} (facekit / OpenBLAS ${fk.blas_core})`];
if (process.env.OPENBLAS_CORETYPE) {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  const own = run(path.join(buildDir, 'bench_models'), ['--ceiling-only', '--json', '--runs', RUNS], env);
  ceilings.push(`${own.sgemm_gflops[1].toFixed(1)} (OpenBLAS ${own.blas_core}, its own choice)`);
  fk.sgemm_gflops = fk.sgemm_gflops.map((g, i) => Math.max(g, own.sgemm_gflops[i]));
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fk-bench-'));
// analyze: one face (the first LFW image, as represent takes them) and the
// three of sample1.jpg.
const analyzeImages = [...(fk.represent.paths.length ? [[fk.represent.paths[0], 'LFW']] : []), [photo, 'sample1']];
const stages = run(path.join(buildDir, 'bench_pipeline'),
  [photo, '10', '--json', '--pixels', tmp, ...analyzeImages.flatMap(([p]) => ['--analyze', p])]);
const analyzeList = path.join(tmp, 'analyze.json');
fs.writeFileSync(analyzeList, JSON.stringify(stages.analyze || []));
const list = path.join(tmp, 'images.txt');
fs.writeFileSync(list, fk.represent.paths.join('\n') + '\n');
const peerArgs = [faceapiDir, photo, '10', '1', '--models', '--pair', ...pair];
if (fk.represent.images > 0) peerArgs.push('--images', list);
const fa = node('faceapi.js', peerArgs);
const hu = fs.existsSync(humanDir)
  ? node('human.js', [humanDir, RUNS, '1', '--analyze', analyzeList, '--faceapi', faceapiDir]) : { models: {} };
fs.rmSync(tmp, { recursive: true, force: true });
const loadAfter = fs.readFileSync('/proc/loadavg', 'utf8').trim();

const [t1, tn] = fk.threads;
const pad = (s, n) => String(s).padEnd(n);
const num = (v, unit) => (v == null || v < 0 ? '-' : `${v.toFixed(v < 10 ? 2 : 1)}${unit}`).padStart(11);
const ratio = (v) => (v == null || !isFinite(v) ? '-' : `${v.toFixed(2)}x`).padStart(9);
const verdict = (ok) => (ok == null ? '' : ok ? 'PASS' : 'MISS');

console.log(`load average before: ${load}; after: ${loadAfter} (${os.cpus().length} CPUs: ${os.cpus()[0].model})`);
console.log(`sgemm 1024^3 ceiling (same run, best of: ${ceilings.join(', ')} GFLOP/s on ${tn}T): ${fk.sgemm_gflops[0].toFixed(1)} GFLOP/s ${t1}T, ${fk.sgemm_gflops[1].toFixed(1)} GFLOP/s ${tn}T`);
console.log(`peers: ${fa.peer}; ${hu.peer || 'Human models absent'}; 1 wasm thread`);
console.log(`facekit ${t1}T / ${tn}T vs peer; ratio = peer / facekit; median of ${RUNS} runs after a warm-up\n`);
const head = `${pad('what', 26)}${'facekit 1T'.padStart(11)}${`facekit ${tn}T`.padStart(11)}${'peer'.padStart(11)}${'ratio 1T'.padStart(9)}${`ratio ${tn}T`.padStart(9)}  target`;
console.log(head);
console.log('-'.repeat(head.length + 20));

const peerModels = { ...(fa.models || {}), ...(hu.models || {}) };
const misses = [];
const row = (label, f1, fn, p, target, ok, higherBetter = false) => {
  const r1 = p == null ? null : higherBetter ? f1 / p : p / f1;
  const rn = p == null ? null : higherBetter ? fn / p : p / fn;
  const pass = ok ? ok(r1, rn) : null;
  if (pass === false) misses.push(label);
  const unit = higherBetter ? '/s' : ' ms';
  console.log(`${pad(label, 26)}${num(f1, unit)}${num(fn, unit)}${num(p, unit)}${ratio(r1)}${ratio(rn)}  ${target} ${verdict(pass)}`);
};
const modelTarget = (r1, rn) => r1 >= 2.5 && rn >= 5;
for (const m of fk.models) {
  const p = peerModels[m.name];
  if (!p) continue;
  row(`${m.name} b1`, m.ms_b1[0], m.ms_b1[1], p.ms_b1, '1T>=2.5x, 2T>=5x', modelTarget);
  if (p.ms_b8 != null) row(`${m.name} b8 (per item)`, m.ms_b8[0], m.ms_b8[1], p.ms_b8, '1T>=2.5x, 2T>=5x', modelTarget);
}
const v = fa.verify;
row('verify (pair, incl. decode)', fk.verify.ms[0], fk.verify.ms[1], v.ms, `${tn}T>=8x`, (r1, rn) => rn >= 8);
row('verify (excl. peer decode)', fk.verify.ms[0], fk.verify.ms[1], v.ms - v.decode_ms, '(info)', null);
if (fa.represent) {
  // One context, its networks split over the threads layer by layer (what a
  // library user calling fk_represent in a loop gets), for information; and
  // one single-threaded context per core taking images in turn, which is how
  // facekit processes a folder (find / register indexing): the target row.
  row(`represent ${fk.represent.images} LFW, 1 context`, fk.represent.images_per_s[0], fk.represent.images_per_s[1],
    fa.represent.images_per_s, '(info)', null, true);
  const par = fk.represent.images_per_s_contexts;
  row(`represent ${fk.represent.images} LFW, ctx/core`, fk.represent.images_per_s[0], par > 0 ? par : -1,
    fa.represent.images_per_s, `${tn}T>=5x`, (r1, rn) => rn >= 5, true);
} else {
  console.log(`${pad('represent', 26)} skipped (no LFW images under ${lfwDir})`);
}
const s1 = stages.by_threads[0];
const sn = stages.by_threads[stages.by_threads.length - 1];
for (const [label, key] of [['stage detect (sample1)', 'detect_ms'], ['stage landmarks (3 faces)', 'landmarks_ms'], ['stage embed (3 faces)', 'embed_ms']])
  row(label, s1[key], sn[key], fa[key], '(info)', null);
const sum = (s) => s.detect_ms + s.landmarks_ms + s.align_ms + s.embed_ms;
row('stage pipeline (sample1)', sum(s1), sum(sn), fa.pipeline_ms, '(info)', null);
// analyze: the analysis stage given the faces (each default model's crop,
// input fill and graph runs over all the faces; target), then the whole
// fk_analyze call with detection (facekit only: Human detects with its own
// BlazeFace, not the SSD facekit uses).
const analyzed = (stages.analyze || []).map((a, k) => {
  const peer = (hu.analyze || [])[k];
  // every model facekit ran must have been run by the peer, or no ratio
  const lacks = peer ? a.models.filter((m) => !(peer.model_ms && m in peer.model_ms)) : a.models;
  return { fk: a, peer, tag: analyzeImages[k][1], lacks, complete: !!peer && lacks.length === 0 };
});
for (const { fk: a, peer, tag, lacks, complete } of analyzed) {
  const n = a.faces.length;
  const b1 = a.by_threads[0], bn = a.by_threads[a.by_threads.length - 1];
  const label = `analyze ${n} face${n === 1 ? '' : 's'} (${tag})`;
  if (complete) {
    row(label, b1.stage_ms, bn.stage_ms, peer.stage_ms, `${tn}T>=5x`, (r1, rn) => rn >= 5);
  } else {
    misses.push(`${label}: peer lacks ${lacks.join(', ')}`);
    console.log(`${pad(label, 26)}${num(b1.stage_ms, ' ms')}${num(bn.stage_ms, ' ms')}${num(null)}${ratio(null)}${ratio(null)}  ${tn}T>=5x MISS (peer ${peer ? 'lacks' : 'absent, lacks'} ${lacks.join(', ')}: no ratio from a partial sum)`);
  }
  row(`  whole call, with detect`, b1.call_ms, bn.call_ms, null, '(info)', null);
}

console.log(`\nshare of the ${tn}-thread sgemm ceiling (${fk.sgemm_gflops[1].toFixed(1)} GFLOP/s), better of batch 1 and 8:`);
for (const m of fk.models) {
  const best = Math.max(m.gflops_b1[1], m.gflops_b8[1]);
  const frac = best / fk.sgemm_gflops[1];
  const target = ['Dlib', 'FaceRes'].includes(m.name);
  if (target && frac < 0.5) misses.push(`${m.name} ceiling`);
  console.log(`  ${pad(m.name, 14)} ${m.gflop.toFixed(3).padStart(7)} GFLOP  ${best.toFixed(1).padStart(6)} GFLOP/s  ${(100 * frac).toFixed(0).padStart(3)}%${target ? `  target >=50% ${verdict(frac >= 0.5)}` : ''}`);
}
if (analyzed.length) {
  const t = analyzed[0].fk.by_threads;
  console.log(`\nanalyze (all four actions; facekit median of ${stages.runs}, peer of ${RUNS} runs), ms per model over all the faces, facekit ${t[0].threads}T / ${t[t.length - 1].threads}T / peer:`);
  // Largest difference of the outputs (facekit's printed to 6 digits): the
  // same graphs on the same crops give the same values.
  const diff = { age: 0, man: 0, emotion: 0, race: 0 };
  for (const { fk: a, peer, tag, complete } of analyzed) {
    const pm = (m) => (peer && peer.model_ms && m in peer.model_ms ? peer.model_ms[m].toFixed(1) : 'MISSING');
    const parts = a.models.map((m, i) => `${m} ${a.by_threads.map((b) => b.model_ms[i].toFixed(1)).join(' / ')} / ${pm(m)}`);
    console.log(`  ${pad(`${a.faces.length} (${tag})`, 12)} ${parts.join(';  ')}`);
    for (let i = 0; complete && i < a.faces.length; i++) {
      const f = a.faces[i], p = peer.faces[i];
      diff.age = Math.max(diff.age, Math.abs(f.age - p.age));
      diff.man = Math.max(diff.man, Math.abs(f.man - p.man));
      for (const key of ['emotion', 'race']) f[key].forEach((v, j) => { diff[key] = Math.max(diff[key], Math.abs(v - p[key][j])); });
    }
  }
  if (analyzed.every((a) => a.complete)) {
    const names = [...new Set(analyzed.flatMap((a) => a.fk.models))].join(', ');
    console.log(`  outputs (${names}), largest |facekit - peer| (peer on facekit's decoded pixels): age ${diff.age.toExponential(1)} years, P(man) ${diff.man.toExponential(1)}, emotion ${diff.emotion.toExponential(1)}, race ${diff.race.toExponential(1)}`);
  } else {
    console.log('  outputs not compared: the peer did not run every model');
  }
}
console.log(`\npeak RSS of bench_models: ${fk.peak_rss_mb.pipeline.toFixed(0)} MB after verify + represent, ${fk.peak_rss_mb.total.toFixed(0)} MB with every model loaded`);

// ANCHOR=0 (make bench ANCHOR=0) leaves the anchor out: it takes ~12 minutes.
if (process.env.ANCHOR !== '0') misses.push(...require('./anchor.js').anchor(buildDir));
console.log(misses.length ? `MISS: ${misses.join(', ')}` : 'all targets PASS');
