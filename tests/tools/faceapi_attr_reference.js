// faceapi_attr_reference.js - reference outputs of face-api's own
// ageGenderNet and faceExpressionNet (@vladmandic/face-api 1.7.15 under
// TensorFlow.js 4.22, pure-JS cpu backend) on real faces, for
// tests/models/test_faceapi_attr.c.
//
// Usage (test-only; needs Node and the bench peers' node_modules):
//   cc -O2 -std=c11 -Iinclude tests/tools/faceapi_ref_inputs.c -o /tmp/fri \
//       build/libfacekit.a <the CLI's link libraries>
//   mkdir -p /tmp/fri.d && /tmp/fri /tmp/fri.d NAME=IMAGE ... > /tmp/fri.txt
//   NODE_PATH=/work/main/bench/peers/node_modules node tests/tools/faceapi_attr_reference.js \
//       <face-api model dir> /tmp/fri.txt tests/data/faceapi_attr_reference.txt
//
// faceapi_ref_inputs writes each image as facekit decoded it (PPM) and the
// boxes fk_detect found (default options); here face-api cuts those boxes
// with extractFaceTensors from the int32 image tensor, as its
// withAgeAndGender() / withFaceExpressions() do for a tensor input without
// landmarks, and runs both nets on all faces of an image as one batch.
// Boxes need not come from a detector: lines added by hand to the list
// (boxes over an image's border) check the clipping and padding. The output
// file gets one line per face (TF.js prints a banner on stdout):
//   face <NAME> <x> <y> <w> <h> age <years> gender <man> <woman>
//        expression <neutral happy sad angry fearful disgusted surprised>
// (face-api's order; values %.9g).
'use strict';

const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

function readPpm(file) {
  const buf = fs.readFileSync(file);
  // header: P6 <w> <h> 255 and one whitespace byte
  const head = buf.subarray(0, 64).toString('latin1');
  const m = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(head);
  if (!m) throw new Error(`${file}: not a binary PPM`);
  const w = Number(m[1]), h = Number(m[2]);
  const px = buf.subarray(m[0].length, m[0].length + w * h * 3);
  return tf.tensor3d(Int32Array.from(px), [h, w, 3], 'int32');
}

const g = (v) => Number(v).toPrecision(9);

async function main() {
  const [modelDir, list, outFile] = process.argv.slice(2);
  const out = [];
  await tf.setBackend('cpu');
  await tf.ready();
  await faceapi.nets.ageGenderNet.loadFromDisk(modelDir);
  await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);
  for (const line of fs.readFileSync(list, 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3) continue;
    const [name, ppm] = f;
    const n = Number(f[2]);
    const boxes = [];
    for (let i = 0; i < n; i++) {
      const [x, y, w, h] = f.slice(3 + 4 * i, 7 + 4 * i).map(Number);
      boxes.push(new faceapi.Rect(x, y, w, h));
    }
    if (!n) continue;
    const img = readPpm(ppm);
    const faces = await faceapi.extractFaceTensors(img, boxes);
    const ag = await faceapi.nets.ageGenderNet.forward(faces);
    const ex = await faceapi.nets.faceExpressionNet.forward(faces);
    const age = ag.age.dataSync(), gender = ag.gender.dataSync(), expr = ex.dataSync();
    for (let i = 0; i < n; i++) {
      const e = Array.from(expr.subarray(7 * i, 7 * i + 7)).map(g).join(' ');
      out.push(`face ${name} ${f.slice(3 + 4 * i, 7 + 4 * i).join(' ')} ` +
        `age ${g(age[i])} gender ${g(gender[2 * i])} ${g(gender[2 * i + 1])} expression ${e}`);
    }
    tf.dispose([img, ...faces, ag.age, ag.gender, ex]);
  }
  fs.writeFileSync(outFile, out.join('\n') + '\n');
}
main().catch((e) => { console.error(e); process.exit(1); });
