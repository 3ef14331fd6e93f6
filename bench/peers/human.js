// human.js - the peer for the Human models in facekit's model benchmark:
// the same TF.js graph-model files facekit executes (the human-models package
// in the model home, which @vladmandic/human 3.3.6 loads too), run by
// TensorFlow.js 4.22 with the wasm backend in Node. Prints one JSON object.
//
//   node bench/peers/human.js HUMAN_MODELS_DIR [RUNS] [THREADS]
//
// For each model: model.execute on a fixed-size input of pseudo-random
// values, asking for the same output node facekit reads (so both run the
// same sub-graph), at batch 1 and at batch 8 (milliseconds per item), the
// median of RUNS (at most 5 at batch 8) after a warm-up run.

'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');

// name (as facekit's bench_models prints it), file, output nodes, input size,
// whether the graph takes a batch
const MODELS = [
  ['FaceRes', 'faceres.json', ['global_pooling/Mean'], 224, true],
  ['FaceRes-Deep', 'faceres-deep.json', ['global_pooling/Mean'], 224, true],
  ['MobileFace', 'mobileface.json', ['batchnorm0/add_1'], 112, true],
  ['MobileFaceNet', 'mobilefacenet.json', ['embeddings'], 112, true],
  ['BlazeFace', 'blazeface-back.json', ['Identity', 'Identity_1', 'Identity_2', 'Identity_3'], 256, false],
];

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// A graph model from a model.json and its weight files, without fetch.
async function loadGraph(file) {
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(file), p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology, weightSpecs: specs, weightData, format: json.format,
  }));
}

function randomInput(n, size) {
  const data = new Float32Array(n * size * size * 3);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = ((s >>> 8) & 0xffff) / 32768 - 1;
  }
  return tf.tensor4d(data, [n, size, size, 3]);
}

// Median milliseconds of one execute (outputs read back) after a warm-up.
function timeExecute(model, input, outputs, runs) {
  const once = () => {
    const out = model.execute(input, outputs);
    const list = Array.isArray(out) ? out : [out];
    for (const t of list) t.dataSync();
    tf.dispose(list);
  };
  once();
  const times = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    once();
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function main() {
  const [dir, runsArg, threadsArg] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: node human.js HUMAN_MODELS_DIR [RUNS] [THREADS]');
    process.exit(2);
  }
  const runs = Number(runsArg || 5);
  const threads = Number(threadsArg || 1);
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
  if (threads > 1) wasm.setThreadsCount(threads);
  await tf.setBackend('wasm');
  await tf.ready();
  const result = {
    peer: `Human 3.3.6 graph models, tfjs ${tf.version.tfjs}, wasm backend`,
    wasm_threads: wasm.getThreadsCount ? wasm.getThreadsCount() : threads,
    models: {},
  };
  for (const [name, file, outputs, size, batch] of MODELS) {
    const full = path.join(dir, file);
    if (!fs.existsSync(full)) continue;
    const model = await loadGraph(full);
    const one = randomInput(1, size);
    const entry = { ms_b1: timeExecute(model, one, outputs, runs), ms_b8: null };
    tf.dispose(one);
    if (batch) {
      const eight = randomInput(8, size);
      entry.ms_b8 = timeExecute(model, eight, outputs, Math.min(runs, 5)) / 8;
      tf.dispose(eight);
    }
    result.models[name] = entry;
    model.dispose();
  }
  console.log(JSON.stringify(result, null, 2));
}

main().catch((e) => {
  console.error(`human peer: ${e.message}`);
  process.exit(1);
});
