// JSON-schema grammar cost per token in llama.cpp (node-llama-cpp's prebuilt binaries): greedy
// decodes of N tokens with the schema bench/constrain_bench.cpp uses and N without, same context,
// each token timed on the evaluate iterator; cost = with minus without.
//   node grammar.mjs MODEL.gguf [N=96] [REPS=3] [THREADS=2]
// prints JSON {with: {mean, p50, p99}, without: {...}, cost_mean, cost_p99} in ms per token;
// cost_p99 = p99 with the grammar minus p99 without (single tokens cannot be split).
// Grammar cost depends on the vocabulary, not the model width: use a GGUF with a real Qwen vocabulary.
// The first token of every decode (it carries the prompt) is left out of the statistics; a decode
// that ends its grammar early (end of the document) starts a fresh one until N tokens are timed.
import {getLlama, LlamaGrammarEvaluationState} from "node-llama-cpp";

const [modelPath, n = 96, reps = 3, threads = 2] = process.argv.slice(2).map((v, i) => (i ? Number(v) : v));
// The schema of bench/constrain_bench.cpp.
const schema = {
  type: "object",
  properties: {
    name: {type: "string"}, age: {type: "integer"}, email: {type: "string"},
    address: {type: "object", properties: {street: {type: "string"}, city: {type: "string"}, zip: {type: "string"}},
      required: ["street", "city", "zip"], additionalProperties: false},
    tags: {type: "array", items: {type: "string"}}, score: {type: "number"},
    role: {enum: ["admin", "user", "guest"]}, active: {type: "boolean"},
  },
  required: ["name", "age", "address", "tags", "role", "active"], additionalProperties: false,
};
const llama = await getLlama({gpu: false, build: "never", logLevel: "error", maxThreads: threads});
const model = await llama.loadModel({modelPath});
const grammar = await llama.createGrammarForJsonSchema(schema);
const context = await model.createContext({contextSize: 512, batchSize: 512, threads});
const sequence = context.getSequence();
const prompt = model.tokenize("Reply with the user's record as JSON:");

// Per-token times (ms) of `count` greedy tokens, with the grammar or without.
async function decode(withGrammar, count) {
  const times = [];
  while (times.length < count) {
    await sequence.clearHistory();
    const grammarEvaluationState = withGrammar ? new LlamaGrammarEvaluationState({model, grammar}) : undefined;
    let first = true;
    let t = performance.now();
    let produced = 0;
    for await (const _ of sequence.evaluate(prompt, {temperature: 0, grammarEvaluationState})) {
      const now = performance.now();
      if (!first) times.push(now - t);
      first = false;
      t = now;
      if (times.length >= count || ++produced >= 400) break;
    }
  }
  return times;
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return {mean: xs.reduce((a, b) => a + b, 0) / xs.length, p50: s[s.length >> 1],
    p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))], tokens: xs.length};
};
await decode(true, 16);  // warm-up: faults the weights in, builds the grammar's caches
await decode(false, 16);
const withG = [], without = [];
for (let r = 0; r < reps; r++) {  // interleaved, so drift hits both sides alike
  without.push(...await decode(false, n));
  withG.push(...await decode(true, n));
}
const w = stats(withG), wo = stats(without);
console.log(JSON.stringify({with: w, without: wo, cost_mean: w.mean - wo.mean, cost_p99: w.p99 - wo.p99}));
await context.dispose();
await model.dispose();
