// The official `openai` npm client against a live whale server: streaming and not, reasoning and
// answer arriving separately, usage adding up, the thinking switch, and errors as typed exceptions.
// Usage: node openai_client.mjs BASE_URL PROMPT_TOKENS_THINKING PROMPT_TOKENS_NO_THINKING
// Exits non-zero with a message on the first failed check.
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const [baseURL, promptThinking, promptPlain] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
const messages = [{ role: 'user', content: 'Hello there, how are you?' }];

function checkUsage(u, prompt, completion) {
  assert.equal(u.prompt_tokens, prompt, 'prompt_tokens = whale tokenization of the rendered prompt');
  assert.equal(u.completion_tokens, completion, 'completion_tokens = generated tokens');
  assert.equal(u.total_tokens, prompt + completion);
  assert.ok(u.completion_tokens_details.reasoning_tokens <= u.completion_tokens);
  assert.equal(u.prompt_cache_hit_tokens + u.prompt_cache_miss_tokens, u.prompt_tokens);
  assert.equal(u.prompt_tokens_details.cached_tokens, u.prompt_cache_hit_tokens);
}

// Whole reply, thinking on.
{
  const r = await client.chat.completions.create({
    model: 'deepseek-reasoner', messages, max_tokens: 20, ignore_eos: true, seed: 1,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.choices[0].message.reasoning_content.length > 0, 'reasoning_content is filled');
  checkUsage(r.usage, Number(promptThinking), 20);
}

// Streamed, thinking on with a budget so both reasoning and answer appear.
{
  const stream = await client.chat.completions.create({
    model: 'deepseek-reasoner', messages, max_tokens: 40, ignore_eos: true, seed: 2, thinking_budget: 5,
    stream: true, stream_options: { include_usage: true },
  });
  let reasoning = '', answer = '', first = true, finish = null, usage = null, answerStarted = false;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) {
      assert.equal(chunk.choices.length, 0, 'the usage chunk has no choices');
      usage = chunk.usage;
      continue;
    }
    const d = chunk.choices[0].delta;
    if (first) assert.equal(d.role, 'assistant', 'the first chunk names the role');
    first = false;
    const hasReasoning = typeof d.reasoning_content === 'string' && d.reasoning_content.length > 0;
    const hasAnswer = typeof d.content === 'string' && d.content.length > 0;
    assert.ok(!(hasReasoning && hasAnswer), 'reasoning and answer never share a chunk');
    if (hasReasoning) {
      assert.ok(!answerStarted, 'no reasoning after the answer began');
      reasoning += d.reasoning_content;
    }
    if (hasAnswer) {
      answerStarted = true;
      answer += d.content;
    }
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.ok(reasoning.length > 0, 'reasoning streamed');
  assert.ok(answer.length > 0, 'answer streamed');
  assert.equal(finish, 'length');
  assert.ok(usage, 'include_usage sends a usage chunk');
  checkUsage(usage, Number(promptThinking), 40);
  assert.ok(usage.completion_tokens_details.reasoning_tokens >= 5);
}

// Thinking off: deepseek-chat, streamed and whole.
{
  const stream = await client.chat.completions.create({
    model: 'deepseek-chat', messages, max_tokens: 12, ignore_eos: true, stream: true,
    stream_options: { include_usage: true },
  });
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) assert.equal(c.delta.reasoning_content, undefined, 'no reasoning with thinking off');
  }
  checkUsage(usage, Number(promptPlain), 12);
  assert.equal(usage.completion_tokens_details.reasoning_tokens, 0);
  const r = await client.chat.completions.create({ model: 'deepseek-chat', messages, max_tokens: 3, ignore_eos: true });
  assert.equal(r.choices[0].message.reasoning_content, undefined);
}

// Models and errors.
{
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('deepseek-chat') && ids.includes('deepseek-reasoner'));
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
  await assert.rejects(client.chat.completions.create({
    model: 'deepseek-reasoner',
    messages: [...messages, { role: 'assistant', content: 'a', reasoning_content: 7 }, { role: 'user', content: 'b' }],
  }), (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /reasoning_content/.test(e.message));
}

// A second turn that appends the returned message object as is (reasoning_content included, or
// null as some clients send it): accepted, and R1's template drops the earlier reasoning, so the
// prompt is the same whatever it held.
{
  const first = await client.chat.completions.create({
    model: 'deepseek-reasoner', messages, max_tokens: 8, ignore_eos: true, seed: 3, thinking_budget: 3,
  });
  const usages = [];
  for (const msg of [first.choices[0].message, { ...first.choices[0].message, reasoning_content: null },
                     { ...first.choices[0].message, reasoning_content: 'something else entirely' }]) {
    const r = await client.chat.completions.create({
      model: 'deepseek-reasoner', messages: [...messages, msg, { role: 'user', content: 'And then?' }],
      max_tokens: 2, ignore_eos: true,
    });
    assert.equal(r.choices[0].finish_reason, 'length');
    usages.push(r.usage.prompt_tokens);
  }
  assert.ok(usages[0] > Number(promptThinking), 'the second turn holds the first');
  assert.equal(usages[1], usages[0], 'null reasoning_content: same prompt');
  assert.equal(usages[2], usages[0], 'earlier reasoning is dropped by the R1 template');
}

// logprobs: the client's typed shapes, whole and streamed; the stream's records equal the reply's.
{
  const req = { model: 'deepseek-chat', messages, max_tokens: 6, ignore_eos: true, temperature: 0, logprobs: true, top_logprobs: 3 };
  const r = await client.chat.completions.create(req);
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 6, 'one record per generated token');
  for (const e of content) {
    assert.equal(typeof e.token, 'string');
    assert.ok(e.logprob <= 0 && Array.isArray(e.bytes));
    assert.equal(e.top_logprobs.length, 3);
    assert.deepEqual(e.top_logprobs[0].bytes, e.bytes, 'greedy: the chosen token is the best one');
    for (let j = 1; j < 3; j++) assert.ok(e.top_logprobs[j].logprob <= e.top_logprobs[j - 1].logprob, 'best first');
  }
  const streamed = [];
  for await (const chunk of await client.chat.completions.create({ ...req, stream: true })) {
    for (const c of chunk.choices) if (c.logprobs) streamed.push(...c.logprobs.content);
  }
  assert.deepEqual(streamed, content, 'streamed records equal the whole reply\'s');
  const c = await client.completions.create({ model: 'deepseek-chat', prompt: 'def fib(a):', max_tokens: 4, ignore_eos: true, logprobs: 2 });
  const lp = c.choices[0].logprobs;
  assert.equal(lp.tokens.length, 4);
  assert.equal(lp.token_logprobs.length, 4);
  assert.equal(lp.text_offset[0], 0);
  for (const t of lp.top_logprobs) assert.ok(Object.keys(t).length >= 1 && Object.keys(t).length <= 2);
}

// n = 2, streamed: the client's chunks carry each choice's index; DeepSeek's beta base URL with a
// prefix message.
{
  const texts = ['', ''];
  for await (const chunk of await client.chat.completions.create({
    model: 'deepseek-chat', messages, max_tokens: 4, ignore_eos: true, seed: 5, n: 2, stream: true,
  })) {
    for (const c of chunk.choices) texts[c.index] += c.delta.content ?? '';
  }
  const whole = await client.chat.completions.create({ model: 'deepseek-chat', messages, max_tokens: 4, ignore_eos: true, seed: 5, n: 2 });
  assert.deepEqual(texts, whole.choices.map((c) => c.message.content), 'streamed choices by index equal the whole reply');
  assert.equal(whole.usage.completion_tokens, 8);
  const beta = new OpenAI({ baseURL: baseURL.replace(/\/v1$/, '/beta'), apiKey: 'unused', maxRetries: 0 });
  const r = await beta.chat.completions.create({
    model: 'deepseek-chat', max_tokens: 3, ignore_eos: true,
    messages: [...messages, { role: 'assistant', content: '```python\n', prefix: true }],
  });
  assert.equal(r.choices[0].finish_reason, 'length');
}

console.log('openai client: all checks passed');
