// compare.js - facekit against face-api (TensorFlow.js wasm) in one run, on
// the same image, with the same weights; prints both and the ratios.
//
//   node bench/peers/compare.js BUILD_DIR MODEL_DIR [IMAGE] [RUNS]
//
// facekit is timed with 1 thread and with every core; the peer runs on one
// wasm thread (tfjs-backend-wasm in Node runs single-threaded here). Ratios
// are peer time / facekit time: above 1 means facekit is faster.

'use strict';

const { execFileSync } = require('child_process');
const path = require('path');

const [buildDir, modelDir, imageArg, runsArg] = process.argv.slice(2);
if (!buildDir || !modelDir) {
  console.error('usage: node compare.js BUILD_DIR MODEL_DIR [IMAGE] [RUNS]');
  process.exit(2);
}
const image = imageArg || path.join(modelDir, 'sample1.jpg');
const runs = runsArg || '10';

const fk = JSON.parse(execFileSync(path.join(buildDir, 'bench_pipeline'), [image, runs, '--json']));
const peer = JSON.parse(execFileSync(process.execPath, [path.join(__dirname, 'faceapi.js'), modelDir, image, runs, '1']));

const one = fk.by_threads[0];
const all = fk.by_threads[fk.by_threads.length - 1];
const rows = [
  ['detect (ssd)', 'detect_ms', 'detect_ms'],
  ['landmarks (all faces)', 'landmarks_ms', 'landmarks_ms'],
  ['embed (all faces)', 'embed_ms', 'embed_ms'],
  ['pipeline (detect+landmarks+align+embed)', null, 'pipeline_ms'],
];
const pad = (s, n) => String(s).padEnd(n);
const num = (v) => v.toFixed(1).padStart(9);
console.log(`image ${image} (${one.width}x${one.height}, facekit ${one.faces} faces, face-api ${peer.faces} faces), median of ${runs} runs`);
console.log(`peer: ${peer.peer}, ${peer.wasm_threads} thread`);
console.log(`${pad('stage', 42)}${pad('facekit 1T', 11)}${pad(`facekit ${all.threads}T`, 11)}${pad('face-api', 10)}ratio 1T  ratio ${all.threads}T`);
for (const [label, fkKey, peerKey] of rows) {
  const f1 = fkKey ? one[fkKey] : one.detect_ms + one.landmarks_ms + one.align_ms + one.embed_ms;
  const fn = fkKey ? all[fkKey] : all.detect_ms + all.landmarks_ms + all.align_ms + all.embed_ms;
  const p = peer[peerKey];
  console.log(`${pad(label, 40)}${num(f1)} ms${num(fn)} ms${num(p)} ms  ${(p / f1).toFixed(2).padStart(6)}x ${(p / fn).toFixed(2).padStart(7)}x`);
}
