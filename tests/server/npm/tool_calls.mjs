// A full function-calling loop with the official `openai` npm client against a live whale server
// on a random-weight model: tool_choice forces the calls (named and required, streamed and not),
// ajv validates their arguments against each tool's schema, the client sends the results back
// and the answer request renders them (each such request is printed as a PROMPT line for the C++
// side to re-render and count). Usage: node tool_calls.mjs BASE_URL
// Exits non-zero with a message on the first failed check; prints "all checks passed".
import OpenAI from 'openai';
import Ajv from 'ajv';
import assert from 'node:assert/strict';

const [baseURL] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
const ajv = new Ajv({ strict: false, allErrors: true });

const weather = {
  type: 'object',
  properties: {
    city: { type: 'string', maxLength: 12 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer' },
  },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const time = { type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'Europe/Paris'] } }, required: ['zone'] };
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: weather, strict: true } },
  { type: 'function', function: { name: 'get_time', description: 'The time in a zone', parameters: time } },
];
const validators = { get_weather: ajv.compile(weather), get_time: ajv.compile(time) };

function checkCalls(calls, only) {
  assert.ok(Array.isArray(calls) && calls.length >= 1, 'at least one tool call');
  for (const c of calls) {
    assert.match(c.id, /^call_[0-9a-f]{24}$/, 'id call_...');
    assert.equal(c.type, 'function');
    if (only) assert.equal(c.function.name, only, 'the named tool is called');
    assert.ok(validators[c.function.name], `a known tool: ${c.function.name}`);
    assert.equal(typeof c.function.arguments, 'string', 'arguments are a JSON string');
    const args = JSON.parse(c.function.arguments);
    assert.ok(validators[c.function.name](args), `arguments valid: ${ajv.errorsText(validators[c.function.name].errors)} in ${c.function.arguments}`);
  }
}

// Sends the tool results back and asks for the answer; prints what the C++ side re-renders.
async function answer(messages, calls, stream) {
  const next = [...messages];
  for (const c of calls) next.push({ role: 'tool', tool_call_id: c.id, content: `{"result": "${c.function.name} ok ${c.id.slice(5, 13)}"}` });
  const body = { model: 'deepseek-chat', messages: next, tools, max_tokens: 4, ignore_eos: true, seed: 9 };
  let usage;
  if (stream) {
    const s = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of s) if (chunk.usage) usage = chunk.usage;
  } else {
    const r = await client.chat.completions.create(body);
    assert.equal(r.choices[0].finish_reason, 'length');
    usage = r.usage;
  }
  console.log('PROMPT ' + JSON.stringify({ messages: next, tools, prompt_tokens: usage.prompt_tokens }));
}

const user = { role: 'user', content: 'What is the weather in Paris, and the time there?' };

// 1. Named choice, whole reply.
for (const seed of [1, 2, 3]) {
  const r = await client.chat.completions.create({
    model: 'deepseek-chat', messages: [user], tools, seed, max_tokens: 1500,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls', 'finish_reason tool_calls');
  assert.equal(m.content, null, 'no content besides the calls');
  assert.equal(m.tool_calls.length, 1, 'a named choice makes one call');
  checkCalls(m.tool_calls, 'get_weather');
  await answer([user, m], m.tool_calls, false);
}

// 2. Required, parallel allowed, raw stream: the delta shapes OpenAI clients expect.
for (const seed of [4, 5]) {
  const s = await client.chat.completions.create({
    model: 'deepseek-chat', messages: [user], tools, seed, max_tokens: 1500, tool_choice: 'required', stream: true,
  });
  const calls = [];
  let finish = null;
  for await (const chunk of s) {
    const ch = chunk.choices[0];
    if (!ch) continue;
    if (ch.finish_reason) finish = ch.finish_reason;
    assert.ok(!ch.delta.content, `no content leaks: ${JSON.stringify(ch.delta.content)}`);
    for (const d of ch.delta.tool_calls ?? []) {
      if (!calls[d.index]) {
        assert.equal(d.index, calls.length, 'indices in order');
        assert.ok(d.id && d.type === 'function' && d.function.name, 'the first delta has id, type and name');
        calls[d.index] = { id: d.id, type: d.type, function: { name: d.function.name, arguments: d.function.arguments ?? '' } };
      } else {
        assert.equal(d.id, undefined, 'later deltas carry only arguments');
        calls[d.index].function.arguments += d.function.arguments;
      }
    }
  }
  assert.equal(finish, 'tool_calls');
  checkCalls(calls);
  await answer([user, { role: 'assistant', content: null, tool_calls: calls }], calls, true);
}

// 3. The client's own stream accumulator over a named choice, thinking on (the call follows </think>).
{
  const s = client.chat.completions.stream({
    model: 'deepseek-reasoner', messages: [user], tools, seed: 6, max_tokens: 1500, thinking_budget: 4,
    tool_choice: { type: 'function', function: { name: 'get_time' } }, parallel_tool_calls: false,
  });
  const r = await s.finalChatCompletion();
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  const m = r.choices[0].message;
  assert.ok(!m.content, 'no content');
  assert.equal(m.tool_calls.length, 1);
  checkCalls(m.tool_calls, 'get_time');
  await answer([user, { role: 'assistant', content: null, tool_calls: m.tool_calls }], m.tool_calls, false);
}

// 4. Typed errors.
await assert.rejects(client.chat.completions.create({ model: 'deepseek-chat', messages: [user], tool_choice: 'required' }),
  (e) => e.status === 400 && e.error?.param === 'tool_choice');
await assert.rejects(client.chat.completions.create({
  model: 'deepseek-chat', messages: [user], tools, tool_choice: { type: 'function', function: { name: 'nope' } },
}), (e) => e.status === 400 && e.error?.param === 'tool_choice' && /nope/.test(e.message));
console.log('all checks passed');
