// Throughput of a running `whale serve`: N concurrent streamed requests, each generating exactly
// MAX_TOKENS (ignore_eos); prints aggregate generation tokens/s (from the requests' start, prefill
// included), time to first token, and the decode rate while all N streams run: the tokens that
// arrive between the last stream's first token and the first stream's last one, over that window
// (what a step of N tokens costs, the figure to hold against prompt processing's tokens/s).
// Usage: node bench_streams.mjs BASE_URL "1,4,16" [MAX_TOKENS=32] [PROMPT_TOKENS]
// Without PROMPT_TOKENS: short chat questions (/v1/chat/completions). With it: /v1/completions
// with a prompt of exactly PROMPT_TOKENS token ids, different for every stream (no prefix-cache
// hits), so the prompt length does not depend on the tokenizer or the chat template.
// Not a test (no assertions); docs/server.md and docs/engine.md record its figures.
import { sseChunks } from './sse.mjs';

const [base, levels = '1,4,16', maxTokensArg = '32', promptTokensArg] = process.argv.slice(2);
const maxTokens = Number(maxTokensArg);
const promptTokens = promptTokensArg === undefined ? 0 : Number(promptTokensArg);

function body(i) {
  const common = { model: 'deepseek-reasoner', max_tokens: maxTokens, ignore_eos: true, stream: true, seed: i,
    stream_options: { include_usage: true } };
  if (promptTokens > 0) {
    // Ids 1000.. (ordinary tokens in any BPE vocabulary); stream i starts at its own offset.
    const prompt = Array.from({ length: promptTokens }, (_, j) => 1000 + ((i * 131 + j * 7) % 20000));
    return ['/v1/completions', { ...common, prompt }];
  }
  return ['/v1/chat/completions',
    { ...common, messages: [{ role: 'user', content: `Question ${i}: what is ${i} + ${i * 7}? Think step by step.` }] }];
}

async function one(i) {
  const t0 = performance.now();
  const [path, req] = body(i);
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(req),
  });
  if (!res.ok) throw new Error(`status ${res.status}: ${await res.text()}`);
  let ttft = null, usage = null;
  const arrivals = [];  // when each text-bearing chunk came (one token each, but for held-back bytes)
  for await (const c of sseChunks(res)) {
    if (c.usage) usage = c.usage;
    const ch = c.choices?.[0];
    const d = ch?.delta;
    if ((d && (d.reasoning_content || d.content)) || ch?.text) {
      const now = performance.now();
      if (ttft === null) ttft = now - t0;
      arrivals.push(now);
    }
  }
  return { ttft, tokens: usage.completion_tokens, prompt: usage.prompt_tokens, arrivals };
}

for (const n of levels.split(',').map(Number)) {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: n }, (_, i) => one(i + n * 100)));
  const wall = (performance.now() - t0) / 1000;
  const tokens = results.reduce((a, r) => a + r.tokens, 0);
  const ttfts = results.map((r) => r.ttft ?? wall * 1000).sort((a, b) => a - b);
  const median = ttfts[Math.floor(ttfts.length / 2)];
  // All N decoding: from the last first token to the first last token.
  const from = Math.max(...results.map((r) => r.arrivals[0] ?? Infinity));
  const to = Math.min(...results.map((r) => r.arrivals[r.arrivals.length - 1] ?? -Infinity));
  const inWindow = results.reduce((a, r) => a + r.arrivals.filter((t) => t > from && t <= to).length, 0);
  const steady = to > from && inWindow > 0
    ? `${(inWindow / ((to - from) / 1000)).toFixed(1)} tok/s decode with all ${n} running (${inWindow} tokens in ${((to - from) / 1000).toFixed(1)} s)`
    : 'no window with all running';
  console.log(`streams ${String(n).padStart(2)}: ${tokens} tokens (prompts ${results[0].prompt}) in ${wall.toFixed(1)} s = ` +
    `${(tokens / wall).toFixed(1)} tok/s aggregate, ${(tokens / wall / n).toFixed(2)} tok/s per stream; ` +
    `TTFT median ${(median / 1000).toFixed(2)} s, max ${(ttfts[ttfts.length - 1] / 1000).toFixed(2)} s; ${steady}`);
}
