// Soak test of a running `whale serve` (issue 21 item 3): DURATION seconds of mixed traffic (chat and
// raw completions, streamed and not, short and long prompts, a shared long prefix, greedy and seeded
// sampling, ~10% of streaming clients hanging up mid-stream, bursts past the queue limit), then every
// completed request replayed ALONE and compared: whale's kernels are batch-invariant, so a request's
// tokens under load must equal its tokens alone. Also samples the server's RSS (/proc/PID/status) and
// reads /metrics for leaked KV blocks once idle. Writes a JSON report; exits 1 on any mismatch, leak,
// unexpected status or an RSS that did not come back within 10% of the post-warm-up baseline.
// Usage: node soak.mjs BASE_URL SERVER_PID DURATION_S OUT_JSON [CLIENTS=6] [QUEUE=16] [SEED=1]
// SOAK_NEGATIVE_CONTROL=1: the replay changes each request (seed + 1, or one token fewer), so the
// comparison must find mismatches; the run then succeeds only if it does (the check can fail).
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { sseChunks } from './sse.mjs';

const [base, pidArg, durationArg, outPath, clientsArg = '6', queueArg = '16', seedArg = '1'] = process.argv.slice(2);
if (!base || !pidArg || !durationArg || !outPath) {
  console.error('usage: node soak.mjs BASE_URL SERVER_PID DURATION_S OUT_JSON [CLIENTS] [QUEUE] [SEED]');
  process.exit(2);
}
const pid = Number(pidArg), duration = Number(durationArg) * 1000, clients = Number(clientsArg);
const queue = Number(queueArg);
const negativeControl = process.env.SOAK_NEGATIVE_CONTROL === '1';
// SOAK_RSS_JUDGED=0 (the AddressSanitizer build): RSS is reported but not judged, since ASan holds
// freed memory in its quarantine (256 MB by default) and LeakSanitizer checks leaks there instead.
const rssJudged = process.env.SOAK_RSS_JUDGED !== '0';

// A small seeded PRNG (mulberry32): the traffic is the same for the same seed.
let state = Number(seedArg) >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

const sharedPrefix = 'You are a careful calculator. Show each step, check the result, and answer in \\boxed{}. '.repeat(6);
const longText = Array.from({ length: 40 }, (_, i) => `Line ${i}: the whale dives ${i * 37 % 101} metres.`).join(' ');

// One request: [path, body, stream, hangUpAfterChunks or null].
function makeRequest() {
  const a = int(1, 9999), b = int(1, 999);
  const kind = pick(['chat', 'chat', 'chat', 'completions']);
  const length = pick(['short', 'short', 'long', 'shared']);
  const stream = rand() < 0.5;
  const sampled = rand() < 0.4;
  const sampling = sampled ? { temperature: 0.8, top_p: 0.95, seed: int(1, 1 << 30) } : { temperature: 0 };
  const maxTokens = int(4, 48);
  const question = `What is ${a} + ${b}?`;
  const text = length === 'short' ? question : length === 'long' ? `${longText}\n${question}` : `${sharedPrefix}${question}`;
  let path, body;
  if (kind === 'chat') {
    path = '/v1/chat/completions';
    body = { model: 'default', messages: [{ role: 'user', content: text }], max_tokens: maxTokens, ...sampling };
  } else {
    path = '/v1/completions';
    body = { model: 'default', prompt: text, max_tokens: maxTokens, ...sampling };
  }
  if (stream) body.stream = true;
  const hangUp = stream && rand() < 0.2 ? int(1, 4) : null;  // half the streams... of 20%: ~10% of clients
  return { path, body, stream, hangUp };
}

// The text a request produced (reasoning + content for chat, text for completions) and its token count.
async function send(req, signal) {
  const res = await fetch(base + req.path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(req.body), signal,
  });
  if (!req.stream) {
    const j = await res.json().catch(() => null);
    if (res.status !== 200) return { status: res.status };
    const c = j.choices[0];
    const text = c.message ? `${c.message.reasoning_content ?? ''}\u0000${c.message.content ?? ''}` : c.text;
    return { status: 200, text, tokens: j.usage.completion_tokens, finish: c.finish_reason };
  }
  if (res.status !== 200) {
    await res.text().catch(() => '');
    return { status: res.status };
  }
  let reasoning = '', content = '', chunks = 0, usage = null, finish = null;
  for await (const c of sseChunks(res)) {
    if (c.usage) usage = c.usage;
    const ch = c.choices?.[0];
    if (!ch) continue;
    if (ch.finish_reason) finish = ch.finish_reason;
    if (ch.delta) {
      reasoning += ch.delta.reasoning_content ?? '';
      content += ch.delta.content ?? '';
    } else {
      content += ch.text ?? '';
    }
    ++chunks;
    if (req.hangUp !== null && chunks >= req.hangUp) return { status: 'hung_up' };
  }
  const text = req.path.includes('chat') ? `${reasoning}\u0000${content}` : content;
  return { status: 200, text, tokens: usage?.completion_tokens ?? null, finish };
}

async function sendCounting(req, counts, done) {
  const ac = new AbortController();
  try {
    const r = await send(req, ac.signal);
    if (r.status === 'hung_up') {
      ac.abort();
      ++counts.disconnects;
    } else if (r.status === 200) {
      ++counts.served;
      done.push({ req, text: r.text, tokens: r.tokens, finish: r.finish });
    } else if (r.status === 429) {
      ++counts.rejected429;
    } else {
      ++counts.other;
      counts.otherStatuses.push(r.status);
    }
  } catch (e) {
    if (e.name === 'AbortError') return;
    ++counts.errors;
    counts.errorMessages.push(String(e));
  }
}

function rssKiB() {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)[1]), hwm: Number(/VmHWM:\s+(\d+)/.exec(s)[1]) };
  } catch {
    return null;
  }
}

async function metrics() {
  const t = await (await fetch(`${base}/metrics`)).text();
  const get = (name) => Number(new RegExp(`\\n${name} ([0-9.e+-]+)\\n`).exec(`\n${t}`)?.[1]);
  return { pending: get('whale_requests_pending'), running: get('whale_requests_running'), queued: get('whale_requests_queued'),
    blocksTotal: get('whale_kv_blocks_total'), blocksFree: get('whale_kv_blocks_free') };
}

async function waitIdle() {
  for (let i = 0; i < 600; ++i) {
    const m = await metrics();
    if (m.pending === 0 && m.running === 0 && m.queued === 0) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
  return metrics();
}

const counts = { served: 0, rejected429: 0, disconnects: 0, other: 0, errors: 0, otherStatuses: [], errorMessages: [] };
const done = [];
const t0 = Date.now();
const rssSamples = [];
const sampler = setInterval(() => {
  const r = rssKiB();
  if (r) rssSamples.push({ t: (Date.now() - t0) / 1000, ...r });
}, 500);

// Warm-up: a few requests of every shape, then the baseline RSS.
for (let i = 0; i < 8; ++i) await sendCounting(makeRequest(), counts, done);
await waitIdle();
const baseline = rssKiB();

let nextBurst = Date.now() + Math.min(30000, duration / 3);
let bursts = 0;
async function worker() {
  while (Date.now() - t0 < duration) {
    if (Date.now() >= nextBurst) {
      nextBurst = Date.now() + 30000;
      ++bursts;
      // Twice the queue limit at once: some must get 429 (counted), none may hang or fail otherwise.
      await Promise.all(Array.from({ length: 2 * queue }, () => sendCounting(makeRequest(), counts, done)));
      continue;
    }
    await sendCounting(makeRequest(), counts, done);
  }
}
let lastReport = 0;
const reporter = setInterval(() => {
  const s = Math.round((Date.now() - t0) / 1000);
  if (s - lastReport >= 10) {
    lastReport = s;
    console.error(`soak: ${s}/${duration / 1000} s, ${counts.served} served, ${counts.rejected429} x 429, ` +
      `${counts.disconnects} hung up`);
  }
}, 1000);
await Promise.all(Array.from({ length: clients }, worker));
clearInterval(reporter);
const idle = await waitIdle();
await new Promise((r) => setTimeout(r, 1000));
const after = rssKiB();
clearInterval(sampler);

// Replay every completed request alone (one at a time; nothing else runs) and compare.
let mismatches = 0;
const mismatchExamples = [];
for (let i = 0; i < done.length; ++i) {
  const d = done[i];
  const body = { ...d.req.body };
  if (negativeControl) {
    if (body.seed !== undefined) body.seed += 1;
    else body.max_tokens -= 1;
  }
  const alone = await send({ ...d.req, body, hangUp: null }, undefined);
  if (alone.status !== 200 || alone.text !== d.text || alone.tokens !== d.tokens) {
    ++mismatches;
    if (mismatchExamples.length < 5) mismatchExamples.push({ request: d.req.body, path: d.req.path, underLoad: d.text, alone: alone.text });
  }
  if (i % 200 === 199) console.error(`soak: replayed ${i + 1}/${done.length}, ${mismatches} mismatches`);
}
const finalM = await waitIdle();
const peak = Math.max(...rssSamples.map((s) => s.hwm), after?.hwm ?? 0);
const report = {
  negative_control: negativeControl, seconds: (Date.now() - t0) / 1000, load_seconds: duration / 1000, clients, queue, bursts,
  requests_served: counts.served, rejected_429: counts.rejected429, client_hangups: counts.disconnects,
  other_statuses: counts.other, other_status_list: counts.otherStatuses.slice(0, 10), client_errors: counts.errors,
  client_error_examples: counts.errorMessages.slice(0, 5),
  replayed: done.length, mismatches, mismatch_examples: mismatchExamples,
  kv_blocks_total: finalM.blocksTotal, kv_blocks_leaked: finalM.blocksTotal - finalM.blocksFree,
  kv_blocks_leaked_after_load: idle.blocksTotal - idle.blocksFree,
  rss_baseline_kib: baseline?.rss, rss_after_kib: after?.rss, rss_peak_kib: peak,
  rss_returned_within_10pct: baseline && after ? after.rss <= 1.1 * baseline.rss : null,
  rss_judged: rssJudged,
  rss_samples: rssSamples.filter((_, i) => i % Math.max(1, Math.floor(rssSamples.length / 200)) === 0),
};
writeFileSync(`${outPath}.tmp`, JSON.stringify(report, null, 1));
renameSync(`${outPath}.tmp`, outPath);
const healthy = report.kv_blocks_leaked === 0 && report.kv_blocks_leaked_after_load === 0 &&
  counts.other === 0 && counts.errors === 0 && counts.served > 0;
const ok = negativeControl ? healthy && mismatches > 0 : mismatches === 0 && report.kv_blocks_leaked === 0 && report.kv_blocks_leaked_after_load === 0 &&
  counts.other === 0 && counts.errors === 0 && (!rssJudged || report.rss_returned_within_10pct !== false) && counts.served > 0;
console.log(`soak: ${counts.served} served, ${counts.rejected429} x 429, ${counts.disconnects} client hang-ups, ` +
  `${bursts} bursts; ${mismatches} mismatches of ${done.length} replayed alone; KV blocks leaked ` +
  `${report.kv_blocks_leaked}; RSS baseline ${baseline?.rss} KiB, after ${after?.rss} KiB, peak ${peak} KiB; ` +
  (ok ? 'OK' : 'FAILED'));
process.exit(ok ? 0 : 1);
