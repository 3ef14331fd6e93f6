// human.js - the peer for the Human models in facekit's model benchmark:
// the same TF.js graph-model files facekit executes (the human-models package
// in the model home, which @vladmandic/human 3.3.6 loads too), run by
// TensorFlow.js 4.22 with the wasm backend in Node; and the peer of
// facekit's analysis stage. Prints one JSON object.
//
//   node bench/peers/human.js HUMAN_MODELS_DIR [RUNS] [THREADS]
//        [--analyze FILE [--faceapi FACEAPI_MODEL_DIR]]
//
// For each model: model.execute on a fixed-size input of pseudo-random
// values, asking for the same output node facekit reads (so both run the
// same sub-graph), at batch 1 and at batch 8 (milliseconds per item), the
// median of RUNS (at most 5 at batch 8) after a warm-up run.
//
// --analyze FILE: the "analyze" list of bench_pipeline --json (images, the
// faces facekit detected, the models fk_analyze ran, its outputs). For each
// image, decoded with jpeg-js or read from the raw pixels facekit decoded
// (bench_pipeline --pixels; not timed, nor is making the image tensors),
// the analysis stage as facekit's fk_analyze runs it: each model it ran,
// once over all the faces in one batch, crop + input fill + net + outputs
// read back, and nothing else (no decode, no detection):
//  - FaceApi-AgeGender, FaceApi-Expression (the defaults): face-api's own
//    ageGenderNet and faceExpressionNet (@vladmandic/face-api 1.7.15, the
//    weights in FACEAPI_MODEL_DIR) with face-api's own cut, as
//    tests/tools/faceapi_attr_reference.js runs them: extractFaceTensors of
//    the boxes from the int32 image tensor (clip, floor), then net.forward
//    on all the face tensors at once (NetInput: centred pad to square,
//    resizeBilinear to 112, mean and /255). face-api's withAgeAndGender()
//    and withFaceExpressions() would run the nets one face at a time; one
//    batch is what facekit does, and no slower.
//  - FaceRes-Attr (faceres.json, gender_pred and age_pred), Oarriaga-Emotion
//    (emotion.json), GEAR (gear.json; the race default): the graph files in
//    HUMAN_MODELS_DIR, tf.image.cropAndResize of the faces' boxes (the box
//    enlarged 1.2x and squared, GEAR's sub-box; the boxes placed so that
//    cropAndResize samples the same points as facekit's bilinear crop), the
//    model's input scaling (gray for emotion), execute.
// Median of RUNS after a warm-up, in total and per model. A model facekit
// ran that this peer cannot run (not in the tables below, or its files
// absent) is listed in "missing" and left out: compare.js then refuses the
// row rather than compare a partial sum. The outputs are returned too,
// reduced the way facekit reduces them (FaceRes age: expectation over its
// 100 bins; emotions in deepface's order), for compare.js to check that
// both sides computed the same thing.

'use strict';

const fs = require('fs');
const path = require('path');
const jpeg = require('jpeg-js');
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');

let faceapi = null; // @vladmandic/face-api, required when --faceapi is given

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

// An image as a float32 [1, h, w, 3] tensor of 0..255: facekit's decoded
// pixels when bench_pipeline wrote them (raw RGB), else the JPEG decoded
// with jpeg-js (alpha dropped).
function readImage(item) {
  if (item.pixels) {
    const raw = fs.readFileSync(item.pixels);
    if (raw.length !== item.width * item.height * 3) throw new Error(`${item.pixels}: not ${item.width}x${item.height} RGB`);
    return tf.tensor4d(Float32Array.from(raw), [1, item.height, item.width, 3]);
  }
  const raw = jpeg.decode(fs.readFileSync(item.image), { useTArray: true, formatAsRGBA: true });
  const rgb = new Float32Array(raw.width * raw.height * 3);
  for (let i = 0, j = 0; i < raw.data.length; i += 4, j += 3) {
    rgb[j] = raw.data[i];
    rgb[j + 1] = raw.data[i + 1];
    rgb[j + 2] = raw.data[i + 2];
  }
  return tf.tensor4d(rgb, [1, raw.height, raw.width, 3]);
}

const FACE_SCALE = 1.2;
// facekit's analyzers (src/models/faceres_attr.c, oarriaga_emotion.c,
// gear.c): file, outputs, input size, sub-box of the square face box
// [top, left, bottom, right], input scaling of the 0..255 crop.
let gray = null; // the gray weights, made once the backend is ready
const ANALYZERS = {
  'FaceRes-Attr': {
    file: 'faceres.json', outputs: ['gender_pred/Sigmoid', 'age_pred/Softmax'], size: 224, sub: null,
    prep: (crops) => crops,
  },
  'Oarriaga-Emotion': {
    file: 'emotion.json', outputs: ['Identity'], size: 64, sub: null,
    prep: (crops) => tf.mul(tf.sub(tf.div(tf.sum(tf.mul(crops, gray), -1, true), 255), 0.5), 2),
  },
  GEAR: {
    file: 'gear.json', outputs: ['Identity', 'Identity_1', 'Identity_2'], size: 198, sub: [0, 0.1, 0.9, 0.9],
    prep: (crops) => tf.div(crops, 255),
  },
};

// facekit's face-api analyzers (src/models/faceapi_age_gender.c,
// faceapi_expression.c): the face-api net, its manifest (to tell whether the
// weights are there).
const FACEAPI_ANALYZERS = {
  'FaceApi-AgeGender': { net: 'ageGenderNet', manifest: 'age_gender_model-weights_manifest.json' },
  'FaceApi-Expression': { net: 'faceExpressionNet', manifest: 'face_expression_model-weights_manifest.json' },
};
// deepface's emotion k (facekit's order: angry, disgust, fear, happy, sad,
// surprise, neutral) is face-api's output TO_FACEAPI[k] (neutral, happy,
// sad, angry, fearful, disgusted, surprised), as faceapi_expression.c maps it
const TO_FACEAPI = [3, 5, 4, 1, 2, 6, 0];

// One face-api analyzer over all the faces: face-api's cut of every box
// from the int32 [h, w, 3] image, one forward of the batch, read back.
async function runFaceApi(a, image, faces) {
  const rects = faces.map((f) => new faceapi.Rect(f.x, f.y, f.w, f.h));
  const crops = await faceapi.extractFaceTensors(image, rects);
  if (crops.length !== faces.length) throw new Error(`face-api cut ${crops.length} of ${faces.length} faces`);
  const out = await faceapi.nets[a.net].forward(crops);
  const list = out instanceof tf.Tensor ? [out] : [out.age, out.gender];
  const data = list.map((t) => t.dataSync());
  tf.dispose([...crops, ...list]);
  return data;
}

// cropAndResize boxes (normalized y1, x1, y2, x2) sampling what facekit's
// fk__attr_crop_fill samples: output pixel i at y0 + (i + 0.5) * bh / size
// - 0.5; cropAndResize puts it at y1 * (H - 1) + i * (y2 - y1) * (H - 1) /
// (size - 1), so y1 and y2 are the first and last sample over H - 1.
function cropBoxes(faces, a, width, height) {
  const boxes = [];
  for (const f of faces) {
    const side = Math.max(f.w, f.h) * FACE_SCALE;
    let x0 = f.x + f.w / 2 - side / 2, y0 = f.y + f.h / 2 - side / 2, bw = side, bh = side;
    if (a.sub) {
      x0 += a.sub[1] * side;
      y0 += a.sub[0] * side;
      bw = (a.sub[3] - a.sub[1]) * side;
      bh = (a.sub[2] - a.sub[0]) * side;
    }
    const first = (o, b) => o + (0.5 * b) / a.size - 0.5;
    const last = (o, b) => o + ((a.size - 0.5) * b) / a.size - 0.5;
    boxes.push(first(y0, bh) / (height - 1), first(x0, bw) / (width - 1),
      last(y0, bh) / (height - 1), last(x0, bw) / (width - 1));
  }
  return boxes;
}

// One analyzer over all the faces: crop, scale, execute, read back.
function runAnalyzer(a, image, boxes, n) {
  const outs = tf.tidy(() => {
    const crops = tf.image.cropAndResize(image, tf.tensor2d(boxes, [n, 4]),
      tf.tensor1d(new Array(n).fill(0), 'int32'), [a.size, a.size], 'bilinear', 0);
    const out = a.model.execute(a.prep(crops), a.outputs);
    return Array.isArray(out) ? out : [out];
  });
  const data = outs.map((t) => t.dataSync());
  tf.dispose(outs);
  return data;
}

// The outputs reduced as facekit reduces them (compare.js compares them).
function reduce(name, data, n) {
  const faces = [];
  for (let i = 0; i < n; i++) {
    const r = {};
    if (name === 'FaceRes-Attr') {
      r.man = Math.min(1, Math.max(0, data[0][i]));
      let years = 0, total = 0;
      for (let k = 0; k < 100; k++) {
        years += k * data[1][i * 100 + k];
        total += data[1][i * 100 + k];
      }
      r.age = total > 0 ? years / total : 0;
    } else if (name === 'FaceApi-AgeGender') {
      // facekit: age as the net gives it, gender {man, woman} renormalized
      const man = Math.max(0, data[1][2 * i]), woman = Math.max(0, data[1][2 * i + 1]);
      r.age = data[0][i];
      r.man = man + woman > 0 ? man / (man + woman) : 0.5;
    } else if (name === 'FaceApi-Expression') {
      const p = TO_FACEAPI.map((k) => Math.max(0, data[0][i * 7 + k]));
      const s = p.reduce((x, y) => x + y, 0);
      r.emotion = p.map((v) => v / s);
    } else if (name === 'Oarriaga-Emotion') {
      const p = Array.from(data[0].slice(i * 7, i * 7 + 7));
      const s = p.reduce((x, y) => x + y, 0);
      r.emotion = p.map((v) => v / s);
    } else {
      const p = Array.from(data[2].slice(i * 5, i * 5 + 5));
      const s = p.reduce((x, y) => x + y, 0);
      r.race = p.map((v) => v / s);
    }
    faces.push(r);
  }
  return faces;
}

// Whether this peer can run facekit's model m: its table entry and files.
function canRun(m, dir, faceapiDir) {
  if (ANALYZERS[m]) return fs.existsSync(path.join(dir, ANALYZERS[m].file));
  if (FACEAPI_ANALYZERS[m]) return !!faceapiDir && fs.existsSync(path.join(faceapiDir, FACEAPI_ANALYZERS[m].manifest));
  return false;
}

async function analyze(dir, file, runs, faceapiDir) {
  const list = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!gray) gray = tf.tensor1d([0.2989, 0.5870, 0.1140]);
  const loaded = {};
  const result = [];
  for (const item of list) {
    const names = item.models.filter((m) => canRun(m, dir, faceapiDir));
    const missing = item.models.filter((m) => !names.includes(m));
    for (const m of names) {
      if (loaded[m]) continue;
      if (ANALYZERS[m]) {
        loaded[m] = { ...ANALYZERS[m], model: await loadGraph(path.join(dir, ANALYZERS[m].file)) };
      } else {
        const a = FACEAPI_ANALYZERS[m];
        await faceapi.nets[a.net].loadFromDisk(faceapiDir);
        loaded[m] = { ...a, faceapi: true };
      }
    }
    const image = readImage(item);
    const [, height, width] = image.shape;
    // face-api cuts from the int32 image tensor, as its callers pass it
    const image3 = names.some((m) => loaded[m].faceapi) ? tf.tidy(() => tf.cast(tf.squeeze(image, [0]), 'int32')) : null;
    const n = item.faces.length;
    const faces = item.faces.map(() => ({}));
    const once = async (perModel) => {
      for (const m of names) {
        const a = loaded[m];
        const t0 = performance.now();
        const data = a.faceapi ? await runFaceApi(a, image3, item.faces)
          : runAnalyzer(a, image, cropBoxes(item.faces, a, width, height), n);
        if (perModel) perModel[m].push(performance.now() - t0);
        else reduce(m, data, n).forEach((r, i) => Object.assign(faces[i], r));
      }
    };
    await once(null); // warm-up, keeping the outputs
    const per = Object.fromEntries(names.map((m) => [m, []]));
    const total = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      await once(per);
      total.push(performance.now() - t0);
    }
    tf.dispose([image, ...(image3 ? [image3] : [])]);
    result.push({
      image: item.image, pixels: item.pixels ? 'facekit' : 'jpeg-js', width, height, faces, missing,
      stage_ms: median(total), model_ms: Object.fromEntries(names.map((m) => [m, median(per[m])])),
    });
  }
  for (const m of Object.values(loaded)) if (m.model) m.model.dispose();
  return result;
}

async function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf('--analyze');
  const analyzeFile = at >= 0 ? args.splice(at, 2)[1] : null;
  const fa = args.indexOf('--faceapi');
  const faceapiDir = fa >= 0 ? args.splice(fa, 2)[1] : null;
  const [dir, runsArg, threadsArg] = args;
  if (!dir || (at >= 0 && !analyzeFile) || (fa >= 0 && !faceapiDir)) {
    console.error('usage: node human.js HUMAN_MODELS_DIR [RUNS] [THREADS] [--analyze FILE [--faceapi DIR]]');
    process.exit(2);
  }
  const runs = Number(runsArg || 5);
  const threads = Number(threadsArg || 1);
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
  if (threads > 1) wasm.setThreadsCount(threads);
  await tf.setBackend('wasm');
  await tf.ready();
  if (faceapiDir) faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const result = {
    peer: `Human 3.3.6 graph models${faceapiDir ? ' + face-api 1.7.15 attribute nets' : ''}, tfjs ${tf.version.tfjs}, wasm backend`,
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
  if (analyzeFile) result.analyze = await analyze(dir, analyzeFile, runs, faceapiDir);
  console.log(JSON.stringify(result, null, 2));
}

main().catch((e) => {
  console.error(`human peer: ${e.message}`);
  process.exit(1);
});
