// faceapi.js - the peer for facekit's benchmarks: face-api (the same
// weights facekit uses) under TensorFlow.js 4.22 with the wasm backend, in
// Node, on the same images. Prints one JSON object with median milliseconds.
//
//   node bench/peers/faceapi.js MODEL_DIR IMAGE [RUNS] [THREADS]
//        [--models] [--pair A.jpg B.jpg] [--images LIST]
//
// Stages timed on IMAGE, each on its own after a warm-up run:
//   detect     ssdMobilenetv1.locateFaces on the decoded image tensor
//              (includes face-api's pad-to-square and resize to 512x512)
//   landmarks  the 68-point net on every detected face box
//   embed      the recognition net on every face, aligned the face-api way
//   pipeline   detectAllFaces().withFaceLandmarks().withFaceDescriptors()
// Decoding is not timed (jpeg-js is pure JS and would flatter facekit).
// --models: each network alone (forward on a fixed-size input of
//   pseudo-random values, the tensor read back), batch 1 and, where the
//   network takes a batch, 8 (ms per item): ssd 512, tiny 416, landmarks68
//   112, Dlib (the recognition net) 150. face-api's forward includes its
//   input normalisation (and for ssd the box decoding), a few ms at most.
// --pair A B: verify as a user of face-api does it: decode both photos,
//   detect + landmarks + descriptors of every face, smallest euclidean
//   distance; decode is timed (verify_ms) and also reported apart.
// --images LIST: represent over the files listed (one path a line): decode
//   + detect + landmarks + descriptors; images per second.

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

// n pseudo-random [size, size, 3] tensors with values in 0..255.
function randomImages(n, size) {
  const out = [];
  let s = 12345;
  for (let k = 0; k < n; k++) {
    const data = new Float32Array(size * size * 3);
    for (let i = 0; i < data.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      data[i] = (s >>> 8) & 0xff;
    }
    out.push(tf.tensor3d(data, [size, size, 3]));
  }
  return out;
}

// Median ms of one synchronous forward whose outputs are read back.
function timeForward(runs, forward) {
  const once = () => {
    const out = forward();
    const list = [];
    const collect = (v) => {
      if (v instanceof tf.Tensor) list.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(collect);
    };
    collect(out);
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

// Each network alone at batch 1 and 8 (null where face-api takes no batch).
function timeModels(runs) {
  const nets = [
    ['ssd', 512, (ni) => faceapi.nets.ssdMobilenetv1.forwardInput(ni), false],
    ['tiny', 416, (ni) => faceapi.nets.tinyFaceDetector.forwardInput(ni, 416), false],
    ['landmarks68', 112, (ni) => faceapi.nets.faceLandmark68Net.forwardInput(ni), true],
    ['Dlib', 150, (ni) => faceapi.nets.faceRecognitionNet.forwardInput(ni), true],
  ];
  const models = {};
  for (const [name, size, fwd, batch] of nets) {
    const imgs = randomImages(batch ? 8 : 1, size);
    const one = new faceapi.NetInput([imgs[0]]);
    const entry = { ms_b1: timeForward(runs, () => fwd(one)), ms_b8: null };
    if (batch) {
      const eight = new faceapi.NetInput(imgs);
      entry.ms_b8 = timeForward(Math.min(runs, 5), () => fwd(eight)) / 8;
    }
    tf.dispose(imgs);
    models[name] = entry;
  }
  return models;
}

function euclidean(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
  return Math.sqrt(s);
}

// Decode + detect + landmarks + descriptors of both photos, distance of the
// closest pair of faces: median ms, and the decode part alone.
async function timeVerify(pair, runs, options) {
  let decodeMs = [];
  let distance = null;
  const once = async () => {
    const t0 = performance.now();
    const imgs = pair.map(readImage);
    decodeMs.push(performance.now() - t0);
    const res = [];
    for (const img of imgs) res.push(await faceapi.detectAllFaces(img, options).withFaceLandmarks().withFaceDescriptors());
    tf.dispose(imgs);
    distance = null;
    for (const a of res[0]) for (const b of res[1]) {
      const d = euclidean(a.descriptor, b.descriptor);
      if (distance === null || d < distance) distance = d;
    }
  };
  const ms = await timeIt(runs, once);
  decodeMs = decodeMs.slice(1);
  return { a: pair[0], b: pair[1], ms, decode_ms: median(decodeMs), distance };
}

// Images per second of decode + detect + landmarks + descriptors over the
// files listed in `listFile`, one pass after a warm-up on the first one.
async function timeRepresent(listFile, options) {
  const files = fs.readFileSync(listFile, 'utf8').split('\n').filter((l) => l.length > 0);
  if (files.length === 0) return null;
  const one = async (f) => {
    const img = readImage(f);
    const res = await faceapi.detectAllFaces(img, options).withFaceLandmarks().withFaceDescriptors();
    tf.dispose(img);
    return res.length;
  };
  await one(files[0]);
  let faces = 0;
  let decode = 0;
  const t0 = performance.now();
  for (const f of files) {
    const d0 = performance.now();
    tf.dispose(readImage(f));
    decode += performance.now() - d0;
    faces += await one(f);
  }
  // each file was decoded twice above: once timed apart, once in one()
  const seconds = (performance.now() - t0 - decode) / 1e3;
  return { images: files.length, faces, images_per_s: files.length / seconds, decode_s: decode / 1e3 };
}

async function main() {
  const args = process.argv.slice(2);
  const opts = { models: false, pair: null, images: null };
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--models') opts.models = true;
    else if (args[i] === '--pair') { opts.pair = [args[i + 1], args[i + 2]]; i += 2; }
    else if (args[i] === '--images') { opts.images = args[++i]; }
    else pos.push(args[i]);
  }
  const [modelDir, imageFile, runsArg, threadsArg] = pos;
  if (!modelDir || !imageFile) {
    console.error('usage: node faceapi.js MODEL_DIR IMAGE [RUNS] [THREADS] [--models] [--pair A B] [--images LIST]');
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
  await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);

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
  if (opts.models) result.models = timeModels(Math.min(runs, 7));
  if (opts.pair) result.verify = await timeVerify(opts.pair, Math.min(runs, 7), options);
  if (opts.images) result.represent = await timeRepresent(opts.images, options);
  console.log(JSON.stringify(result, null, 2));
}

main().catch((e) => {
  console.error(`faceapi peer: ${e.message}`);
  process.exit(1);
});
