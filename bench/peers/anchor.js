// anchor.js - the speed anchor of issue 16: deepface's seminal
// architectures with seeded random weights under facekit and under ONNX
// Runtime's native CPU engine, in one run.
//
//   node bench/peers/anchor.js BUILD_DIR     (compare.js runs it last)
//
// bench/tools/deepface_onnx.py (Debian's /usr/bin/python3 with
// python3-torch, python3-h5py and python3-onnx) writes, when missing, into
// BUILD_DIR/bench-deepface/ the .h5 facekit reads and the .onnx of the same
// torch module. facekit (BUILD_DIR/bench_models --deepface) and ONNX Runtime
// (onnx.js) take turns on each model, twice, in the order facekit, ORT,
// ORT, facekit, so a load change on this shared machine hits both; each
// figure is the better of its two medians. Both engines' outputs on one
// input are compared first: they must agree within 1e-4. Ratio = ORT time /
// facekit time; the target is >= 1.0 at 2 threads, batch 1 and 8, for the
// models of ANCHOR (the others are printed for information). ANCHOR_RUNS
// (default 5) sets the runs per median.

'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const pad = (s, n) => String(s).padEnd(n);
const num = (v, unit) => (v == null || v < 0 ? '-' : `${v.toFixed(v < 10 ? 2 : 1)}${unit}`).padStart(11);
const ratio = (v) => (v == null || !isFinite(v) ? '-' : `${v.toFixed(2)}x`).padStart(9);
const verdict = (ok) => (ok ? 'PASS' : 'MISS');
const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] }));
const node = (script, args) => run(process.execPath, [path.join(__dirname, script), ...args]);

// Prints the anchor's section; returns the names of the missed targets.
function anchor(buildDir) {
  const misses = [];
  const ANCHOR = ['VGG-Face', 'Facenet512', 'ArcFace', 'VGGFace2-ResNet50']; // the targets (ResNet-50: VGGFace2's)
  const ANCHOR_INFO = ['DeepID', 'Facenet', 'OpenFace', 'DeepFace', 'VGGFace2-SENet50'];
  const anchorDir = path.join(buildDir, 'bench-deepface');
  const anchorRuns = process.env.ANCHOR_RUNS || '5';
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const cpuModel = (cpuinfo.match(/^model name\s*:\s*(.*)$/m) || [])[1] || os.cpus()[0].model;
  const cpuFlags = new Set(((cpuinfo.match(/^flags\s*:\s*(.*)$/m) || [])[1] || '').split(/\s+/));
  const simd = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16', 'amx_tile']
    .filter((f) => cpuFlags.has(f));
  console.log(`\nspeed anchor: deepface's architectures (seeded random weights) under facekit and ONNX Runtime`);
  let manifest = [];
  try {
    execFileSync('/usr/bin/python3', [path.join(__dirname, '..', 'tools', 'deepface_onnx.py'), anchorDir],
      { stdio: ['ignore', 'inherit', 'inherit'] });
    manifest = JSON.parse(fs.readFileSync(path.join(anchorDir, 'manifest.json'), 'utf8'));
  } catch (e) {
    console.log(`  skipped: bench/tools/deepface_onnx.py failed (needs /usr/bin/python3 with python3-torch, python3-h5py, python3-onnx)`);
  }
  const anchorLoad = fs.readFileSync('/proc/loadavg', 'utf8').trim();
  const entries = manifest.filter((e) => ANCHOR.includes(e.name) || ANCHOR_INFO.includes(e.name))
    .sort((a, b) => [...ANCHOR, ...ANCHOR_INFO].indexOf(a.name) - [...ANCHOR, ...ANCHOR_INFO].indexOf(b.name));
  const results = [];
  let ortPeer = '';
  for (const e of entries) {
    const fkRun = () => run(path.join(buildDir, 'bench_models'), ['--deepface', anchorDir, e.name, '--threads', '2', '--runs', anchorRuns]);
    const ortRun = () => node('onnx.js', [anchorDir, e.name, anchorRuns, '1', '2']);
    try {
      const f = [fkRun()];
      const o = [ortRun()];
      o.push(ortRun());
      f.push(fkRun());
      ortPeer = o[0].peer;
      const best = (rs, key, t) => Math.min(...rs.map((r) => r[key][t]));
      results.push({ e, f, o, best });
    } catch (err) {
      console.log(`  ${e.name}: failed (${err.message.split('\n')[0]})`);
    }
  }
  if (entries.length) {
    console.log(`CPU: ${cpuModel}, ${os.cpus().length} CPUs; ${simd.join(' ')}`);
    console.log(`load average before the anchor: ${anchorLoad}; after: ${fs.readFileSync('/proc/loadavg', 'utf8').trim()} (machine shared)`);
    console.log(`peer: ${ortPeer}, intraOpNumThreads 1 / 2, sequential, graphOptimizationLevel all; facekit on a 1 / 2-thread pool`);
    console.log(`graph time only; per item at batch 8; each the better of two medians of ${anchorRuns} runs, the engines interleaved`);
    console.log('same network: largest |difference| on one input: facekit vs torch, ORT vs torch, ORT vs facekit (must be <= 1e-4, relative to the largest output when above 1)');
    for (const { e, f, o } of results) {
      const d = o[0].diff_facekit;
      // relative to the output's largest value when that is above 1 (ArcFace's
    // and the VGGFace2 models' embeddings are not normalised)
    const ok = d != null && d / Math.max(1, o[0].ref_scale || 0) <= 1e-4;
      if (!ok) misses.push(`${e.name} ORT != facekit`);
      console.log(`  ${pad(e.name, 18)} ${f[0].diff_ref.toExponential(1)}  ${o[0].diff_ref.toExponential(1)}  ${d == null ? '-' : d.toExponential(1)}  ${ok ? 'same' : 'DIFFERENT'}  (${f[0].gflop.toFixed(2)} GFLOP, ${e.h}x${e.w})`);
    }
    const ah = `${pad('model', 28)}${'facekit'.padStart(11)}${'ORT'.padStart(11)}${'ratio'.padStart(9)}  target`;
    console.log(`\n${ah}`);
    console.log('-'.repeat(ah.length + 12));
    for (const { e, f, o, best } of results) {
      const target = ANCHOR.includes(e.name);
      for (const [b, key] of [[1, 'ms_b1'], [8, 'ms_b8']])
        for (const t of [0, 1]) {
          const fm = best(f, key, t), om = best(o, key, t), r = om / fm;
          let v = '(info)';
          if (target && t === 1) {
            v = `2T>=1.0x ${verdict(r >= 1)}`;
            if (r < 1) misses.push(`${e.name} b${b} 2T vs ORT`);
          }
          console.log(`${pad(`${e.name} b${b} ${t + 1}T`, 28)}${num(fm, ' ms')}${num(om, ' ms')}${ratio(r)}  ${v}`);
        }
    }
    const missing = ANCHOR.filter((n) => !results.some((r) => r.e.name === n));
    if (missing.length) console.log(`(not in the anchor yet: ${missing.join(', ')} - no architecture in keras_ref.py / facekit)`);
  }
  return misses;
}

module.exports = { anchor };

if (require.main === module) {
  if (!process.argv[2]) {
    console.error('usage: node anchor.js BUILD_DIR');
    process.exit(2);
  }
  const m = anchor(process.argv[2]);
  console.log(m.length ? `MISS: ${m.join(', ')}` : 'all anchor targets PASS');
}
