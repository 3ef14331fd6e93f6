// onnx.js - the speed anchor's peer: deepface's architectures, exported
// from PyTorch with the weights facekit reads from their .h5
// (bench/tools/deepface_onnx.py), under ONNX Runtime's native CPU engine
// (onnxruntime-node, pinned in package.json).
//
//   node bench/peers/onnx.js DIR NAME [RUNS] [THREADS...]
//
// Loads DIR/NAME.onnx (DIR/manifest.json describes it) once per thread
// count (default 1 and 2): intraOpNumThreads = that count, one inter-op
// thread, sequential execution, every graph optimization. Checks the model
// on DIR/NAME.in.nchw.f32 against torch's output (NAME.ref.f32) and, when
// bench_models wrote it, facekit's (NAME.fk.f32); then times batch 1 and
// batch 8 (random inputs), the median of RUNS runs (at most 5 at batch 8)
// after one warm-up run. Prints JSON: ms_b1 and ms_b8 (per item) for each
// thread count, and the largest absolute differences.

'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const [dir, name, runsArg, ...threadArgs] = process.argv.slice(2);
if (!dir || !name) {
  console.error('usage: node onnx.js DIR NAME [RUNS] [THREADS...]');
  process.exit(2);
}
const runs = Math.max(1, parseInt(runsArg || '5', 10));
const threads = threadArgs.length ? threadArgs.map(Number) : [1, 2];
const entry = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).find((e) => e.name === name);
if (!entry) {
  console.error(`onnx.js: ${name} is not in ${dir}/manifest.json`);
  process.exit(1);
}
const f32 = (file) => {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};
const maxDiff = (a, b) => {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
// Deterministic inputs in [0, 1) (deepface feeds 0..1 values); speed does
// not depend on them.
const randomInput = (n) => {
  const v = new Float32Array(n * 3 * entry.h * entry.w);
  let s = 12345;
  for (let i = 0; i < v.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    v[i] = ((s >>> 8) & 0xffff) / 65536;
  }
  return new ort.Tensor('float32', v, [n, 3, entry.h, entry.w]);
};

async function timeBatch(session, n, count) {
  const feeds = { input: randomInput(n) };
  const t = [];
  for (let r = -1; r < count; r++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    if (r >= 0) t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(t) / n;
}

async function main() {
  const out = { name, peer: `onnxruntime-node ${require('onnxruntime-node/package.json').version} (CPU)`, threads, ms_b1: [], ms_b8: [] };
  for (const t of threads) {
    const session = await ort.InferenceSession.create(path.join(dir, entry.onnx), {
      executionProviders: ['cpu'],
      intraOpNumThreads: t,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    if (out.diff_ref == null) {
      const x = new ort.Tensor('float32', f32(path.join(dir, `${name}.in.nchw.f32`)), [1, 3, entry.h, entry.w]);
      const y = (await session.run({ input: x }))[entry.out].data;
      const ref = f32(path.join(dir, `${name}.ref.f32`));
      out.diff_ref = maxDiff(y, ref);
      out.ref_scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const fk = path.join(dir, `${name}.fk.f32`);
      out.diff_facekit = fs.existsSync(fk) ? maxDiff(y, f32(fk)) : null;
    }
    out.ms_b1.push(await timeBatch(session, 1, runs));
    out.ms_b8.push(await timeBatch(session, 8, Math.min(runs, 5)));
    await session.release();
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(`onnx.js: ${name}: ${e.message}`);
  process.exit(1);
});
