// tfjs_graph_reference.js - record reference outputs of the human-models
// graph models, computed by TensorFlow.js itself (pure-JS cpu backend), for
// tests/models/test_graph_models.c.
//
// Usage (test-only; needs Node and npm, not part of the build):
//   mkdir /tmp/tfjsref && cd /tmp/tfjsref && npm install @tensorflow/tfjs@4.22.0
//   NODE_PATH=/tmp/tfjsref/node_modules node tests/tools/tfjs_graph_reference.js \
//       <human-models models dir> > tests/data/graph_models_reference.txt
//
// Each model runs once on a synthetic input that the C test rebuilds exactly:
//   in[((y * W) + x) * C + c] = ((x * 3 + y * 5 + c * 7) % 17) / 16 * range
// (range = the model's natural pixel range; C = the Placeholder's channels,
// 1 for the gray analyzers, whose range -1 gives values in -1..0 and so
// covers the sign their (gray - 0.5) * 2 input has). Output format, one block per
// model output:
//   <model> <size> <range> <output name> <count>
//   <count values, %.7g, whitespace separated>
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

const MODELS = [
  // name, input size, pixel range, outputs to record
  ['faceres', 224, 255, ['global_pooling/Mean', 'gender_pred/Sigmoid', 'age_pred/Softmax']],
  ['faceres-deep', 224, 255, ['global_pooling/Mean', 'gender_pred/Sigmoid', 'age_pred/Softmax']],
  ['mobilefacenet', 112, 1, ['embeddings']],
  ['mobileface', 112, 1, ['batchnorm0/add_1']],
  ['blazeface-back', 256, 1, ['Identity', 'Identity_1', 'Identity_2', 'Identity_3']],
  ['blazeface-front', 128, 1, ['Identity', 'Identity_1', 'Identity_2', 'Identity_3']],
  ['gear', 198, 1, ['Identity', 'Identity_1', 'Identity_2']],
  ['gender', 64, -1, ['Identity']],
  ['emotion', 64, -1, ['Identity']],
  ['antispoof', 128, 1, ['Identity']],
  ['liveness', 32, 1, ['Identity']],
];

async function main() {
  const dir = process.argv[2];
  await tf.setBackend('cpu');
  for (const [name, size, range, outputs] of MODELS) {
    const json = JSON.parse(fs.readFileSync(path.join(dir, name + '.json'), 'utf8'));
    const specs = [];
    const bins = [];
    for (const group of json.weightsManifest) {
      specs.push(...group.weights);
      for (const p of group.paths) bins.push(fs.readFileSync(path.join(dir, p)));
    }
    const all = Buffer.concat(bins);
    const data = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
    const model = await tf.loadGraphModel(tf.io.fromMemory({
      modelTopology: json.modelTopology, weightSpecs: specs, weightData: data,
    }));
    const ph = json.modelTopology.node.find((n) => n.op === 'Placeholder');
    const ch = Number(ph.attr.shape.shape.dim[3].size);
    const input = new Float32Array(size * size * ch);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < ch; c++)
          input[(y * size + x) * ch + c] = ((x * 3 + y * 5 + c * 7) % 17) / 16 * range;
    const t = tf.tensor4d(input, [1, size, size, ch]);
    const res = model.execute(t, outputs);
    const list = Array.isArray(res) ? res : [res];
    for (let i = 0; i < outputs.length; i++) {
      const v = list[i].dataSync();
      process.stdout.write(`${name} ${size} ${range} ${outputs[i]} ${v.length}\n`);
      const parts = [];
      for (let k = 0; k < v.length; k++) parts.push(v[k].toPrecision(7));
      process.stdout.write(parts.join(' ') + '\n');
    }
    tf.dispose(list);
    t.dispose();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
