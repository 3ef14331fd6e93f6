// tfl_antispoof_reference.js - record what the TensorFlow Lite runtime
// itself (@tensorflow/tfjs-tflite, the TFLite C++ interpreter compiled to
// WebAssembly, XNNPACK delegate) gives for FaceAntiSpoofing.tflite on real
// face cuts, for tests/models/test_graph_models.c.
//
// Usage (test-only; needs Node and npm, not part of the build):
//   mkdir /tmp/tfl && cd /tmp/tfl && npm install @tensorflow/tfjs-tflite@0.0.1-alpha.10 \
//       @tensorflow/tfjs-backend-cpu@4.9.0
//   build tests/tools/face_cuts.c (see its header), then
//   ls ~/.facekit/face-api/sample*.jpg | /tmp/face_cuts 1 256 2 /tmp/cuts > /tmp/cuts/list.txt
//   NODE_PATH=/tmp/tfl/node_modules node tests/tools/tfl_antispoof_reference.js \
//       <FaceAntiSpoofing.tflite> /tmp/cuts >> tests/data/graph_models_reference.txt
//
// tfjs-tflite is written for browsers: its loader finds its WebAssembly
// through `self.location`, `importScripts` and `fetch`, and sizes a thread
// pool from `navigator`. The shims below give it those from Node's file
// system, and hide MessageChannel so it picks the single-threaded build.
//
// Output, one block per cut and output (the image is named relative to
// the model home, the box is the one face_cuts cut):
//   FaceAntiSpoofing <home-relative image> <x> <y> <w> <h> <output> 8
//   <8 values, %.7g>
const fs = require('fs');
const path = require('path');
const vm = require('vm');

globalThis.self = globalThis;
globalThis.location = { origin: '', href: 'file:///' };
globalThis.MessageChannel = undefined;
globalThis.importScripts = (u) => vm.runInThisContext(fs.readFileSync(u, 'utf8'), { filename: u });
const nodeFetch = globalThis.fetch;
globalThis.fetch = async (u, o) =>
  (typeof u === 'string' && u.startsWith('/'))
    ? new Response(fs.readFileSync(u), { headers: { 'Content-Type': 'application/wasm' } })
    : nodeFetch(u, o);

const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfl = require('@tensorflow/tfjs-tflite');

function readPpm(file) {
  const b = fs.readFileSync(file);
  const head = b.toString('latin1', 0, 64).match(/^P6\s+(\d+)\s+(\d+)\s+255\s/);
  if (!head) throw new Error(file + ': not a binary PPM');
  return { w: +head[1], h: +head[2], rgb: b.subarray(head[0].length) };
}

async function main() {
  const [modelPath, cutDir] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const wasm = path.join(path.dirname(require.resolve('@tensorflow/tfjs-tflite')), '..', 'wasm');
  tfl.setWasmPath(wasm + '/');
  const buf = fs.readFileSync(modelPath);
  const model = await tfl.loadTFLiteModel(
    buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), { numThreads: 1 });
  const lines = fs.readFileSync(path.join(cutDir, 'list.txt'), 'utf8').trim().split('\n');
  for (const line of lines) {
    const [k, image, x, y, w, h] = line.split(' ');
    const cut = readPpm(path.join(cutDir, `cut${k}.ppm`));
    const input = new Float32Array(cut.w * cut.h * 3);
    for (let i = 0; i < input.length; i++) input[i] = cut.rgb[i] / 255;
    const out = model.predict(tf.tensor4d(input, [1, cut.h, cut.w, 3]));
    const rel = image.split('/').slice(-2).join('/');
    for (const name of ['Identity', 'Identity_1']) {
      const v = out[name].dataSync();
      process.stdout.write(`FaceAntiSpoofing ${rel} ${x} ${y} ${w} ${h} ${name} ${v.length}\n`);
      process.stdout.write(Array.from(v, (q) => q.toPrecision(7)).join(' ') + '\n');
    }
    tf.dispose(Object.values(out));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
