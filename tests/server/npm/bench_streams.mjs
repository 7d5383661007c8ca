// Throughput of a running `whale serve`: N concurrent streamed chat requests, each generating
// exactly MAX_TOKENS (ignore_eos); prints aggregate generation tokens/s and time to first token.
// Usage: node bench_streams.mjs BASE_URL "1,4,16" [MAX_TOKENS=32]
// Not a test (no assertions); docs/server.md records its figures.
const [base, levels = '1,4,16', maxTokensArg = '32'] = process.argv.slice(2);
const maxTokens = Number(maxTokensArg);

async function one(i) {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      model: 'deepseek-reasoner', max_tokens: maxTokens, ignore_eos: true, stream: true, seed: i,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: `Question ${i}: what is ${i} + ${i * 7}? Think step by step.` }],
    }),
  });
  if (!res.ok) throw new Error(`status ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let buf = '', ttft = null, usage = null;
  for await (const part of res.body) {
    buf += decoder.decode(part, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, end);
      buf = buf.slice(end + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const c = JSON.parse(ev.slice(6));
      if (c.usage) usage = c.usage;
      const d = c.choices[0]?.delta;
      if (ttft === null && d && (d.reasoning_content || d.content)) ttft = performance.now() - t0;
    }
  }
  return { ttft, tokens: usage.completion_tokens };
}

for (const n of levels.split(',').map(Number)) {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: n }, (_, i) => one(i + n * 100)));
  const wall = (performance.now() - t0) / 1000;
  const tokens = results.reduce((a, r) => a + r.tokens, 0);
  const ttfts = results.map((r) => r.ttft).sort((a, b) => a - b);
  const median = ttfts[Math.floor(ttfts.length / 2)];
  console.log(`streams ${String(n).padStart(2)}: ${tokens} tokens in ${wall.toFixed(1)} s = ` +
    `${(tokens / wall).toFixed(1)} tok/s aggregate, ${(tokens / wall / n).toFixed(2)} tok/s per stream; ` +
    `TTFT median ${(median / 1000).toFixed(2)} s, max ${(ttfts[ttfts.length - 1] / 1000).toFixed(2)} s`);
}
