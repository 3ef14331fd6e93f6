// faceapi.js - the peer for facekit's pipeline benchmark: face-api (the same
// weights facekit uses) under TensorFlow.js 4.22 with the wasm backend, in
// Node, on the same image. Prints one JSON object with median milliseconds.
//
//   node bench/peers/faceapi.js MODEL_DIR IMAGE [RUNS] [THREADS]
//
// Stages timed, each on its own after a warm-up run:
//   detect     ssdMobilenetv1.locateFaces on the decoded image tensor
//              (includes face-api's pad-to-square and resize to 512x512)
//   landmarks  the 68-point net on every detected face box
//   embed      the recognition net on every face, aligned the face-api way
//   pipeline   detectAllFaces().withFaceLandmarks().withFaceDescriptors()
// Decoding is not timed (jpeg-js is pure JS and would flatter facekit).

'use strict';

const fs = require('fs');
const path = require('path');
const jpeg = require('jpeg-js');
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Decode a JPEG into an int32 [h, w, 3] tensor (alpha dropped).
function readImage(file) {
  const raw = jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: true });
  const rgb = new Int32Array(raw.width * raw.height * 3);
  for (let i = 0, j = 0; i < raw.data.length; i += 4, j += 3) {
    rgb[j] = raw.data[i];
    rgb[j + 1] = raw.data[i + 1];
    rgb[j + 2] = raw.data[i + 2];
  }
  return tf.tensor3d(rgb, [raw.height, raw.width, 3], 'int32');
}

// Milliseconds of `fn` (awaited), median over `runs` after one warm-up.
async function timeIt(runs, fn) {
  await fn();
  const times = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function main() {
  const [modelDir, imageFile, runsArg, threadsArg] = process.argv.slice(2);
  if (!modelDir || !imageFile) {
    console.error('usage: node faceapi.js MODEL_DIR IMAGE [RUNS] [THREADS]');
    process.exit(2);
  }
  const runs = Number(runsArg || 5);
  const threads = Number(threadsArg || 1);
  // The wasm binaries ship inside the npm package; no network needed.
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
  if (threads > 1) wasm.setThreadsCount(threads);
  await tf.setBackend('wasm');
  await tf.ready();
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(modelDir);

  const image = readImage(imageFile);
  const options = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 });
  const detections = await faceapi.nets.ssdMobilenetv1.locateFaces(image, options);
  const faces = await faceapi.extractFaceTensors(image, detections);
  const full = await faceapi.detectAllFaces(image, options).withFaceLandmarks().withFaceDescriptors();
  const chips = await faceapi.extractFaceTensors(image, full.map((f) => f.landmarks.align(null, { useDlibAlignment: true })));

  const result = {
    peer: 'face-api 1.7.15, tfjs 4.22.0, wasm backend',
    wasm_threads: wasm.getThreadsCount ? wasm.getThreadsCount() : threads,
    image: imageFile,
    width: image.shape[1],
    height: image.shape[0],
    faces: detections.length,
    detect_ms: await timeIt(runs, () => faceapi.nets.ssdMobilenetv1.locateFaces(image, options)),
    landmarks_ms: await timeIt(runs, async () => {
      for (const f of faces) await faceapi.nets.faceLandmark68Net.detectLandmarks(f);
    }),
    embed_ms: await timeIt(runs, async () => {
      for (const c of chips) await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(c);
    }),
    pipeline_ms: await timeIt(runs, () => faceapi.detectAllFaces(image, options).withFaceLandmarks().withFaceDescriptors()),
  };
  tf.dispose([image, ...faces, ...chips]);
  console.log(JSON.stringify(result, null, 2));
}

main().catch((e) => {
  console.error(`faceapi peer: ${e.message}`);
  process.exit(1);
});
