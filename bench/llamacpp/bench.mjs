// llama-bench-style speed of llama.cpp through node-llama-cpp on one GGUF:
//   node bench.mjs MODEL.gguf PROMPT_TOKENS GEN_TOKENS THREADS REPS DEPTH
// prints JSON {variant, pp: [tok/s...], tg: [tok/s...]}; variant is the libggml-cpu-*.so the
// process actually mapped (ggml picks the best one the CPU supports).
import {readFileSync} from "node:fs";
import {getLlama} from "node-llama-cpp";

const [modelPath, p, n, threads, reps, depth] = process.argv.slice(2).map((v, i) => (i ? Number(v) : v));
const llama = await getLlama({gpu: false, build: "never", logLevel: "error", maxThreads: threads});
const model = await llama.loadModel({modelPath});
// Ids 1..255 exist in every vocabulary whale's presets use.
const ids = (count, seed) => Array.from({length: count}, (_, i) => ((i * 7919 + seed * 104729) % 255) + 1);
const mapped = readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu-([a-z0-9_]+)\.so/);
const result = {variant: mapped ? mapped[1] : "unknown", pp: [], tg: []};
// One untimed pass first (as llama-bench and whale bench do): faults the mmap'd weights in.
{
  const context = await model.createContext({contextSize: Math.max(p, n) + 8, batchSize: 512, threads});
  await context.getSequence().evaluateWithoutGeneratingNewTokens(ids(Math.max(1, Math.min(p, 512)), 9));
  await context.dispose();
}
for (let r = 0; r < reps; r++) {
  const context = await model.createContext({contextSize: depth + Math.max(p, n) + 8, batchSize: 512, threads});
  const sequence = context.getSequence();
  if (depth > 0) await sequence.evaluateWithoutGeneratingNewTokens(ids(depth, 1));
  if (p > 0) {
    const t0 = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(ids(p, 2 + r));
    result.pp.push(p / ((performance.now() - t0) / 1000));
  }
  if (n > 0) {
    let count = 0;
    const t0 = performance.now();
    for await (const _ of sequence.evaluate(ids(1, 3), {temperature: 0})) {
      if (++count >= n) break;
    }
    result.tg.push(n / ((performance.now() - t0) / 1000));
  }
  await context.dispose();
}
console.log(JSON.stringify(result));
await model.dispose();
