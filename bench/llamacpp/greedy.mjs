// Greedy continuation of token ids with llama.cpp (node-llama-cpp's prebuilt binaries):
//   node greedy.mjs MODEL.gguf 1,2,3 N   -> prints N generated ids on one line
import {getLlama} from "node-llama-cpp";

const [modelPath, ids, n] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 512});
const sequence = context.getSequence();
const out = [];
for await (const token of sequence.evaluate(ids.split(",").map(Number), {temperature: 0})) {
  out.push(token);
  if (out.length >= Number(n)) break;
}
console.log(out.join(" "));
await context.dispose();
await model.dispose();
