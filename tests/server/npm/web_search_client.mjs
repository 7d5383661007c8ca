// The official `openai` npm client against a whale server started with a searcher: `web_search`
// passes through as an extra body field, search_results arrives on the reply and in the first
// stream chunk (which has no choices), and neither the plain stream nor the accumulating
// ChatCompletionStream helper trips over that chunk.
// Usage: node web_search_client.mjs BASE_URL EXPECTED_RESULTS_JSON
// Exits non-zero with a message on the first failed check.
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const [baseURL, expectedJson] = process.argv.slice(2);
const expected = JSON.parse(expectedJson);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
const body = {
  model: 'deepseek-chat', messages: [{ role: 'user', content: 'What do whale sharks eat?' }],
  web_search: true, max_tokens: 6, ignore_eos: true, seed: 4,
};

// Whole reply.
const whole = await client.chat.completions.create(body);
assert.deepEqual(whole.search_results, expected, 'search_results on the reply');
assert.equal(whole.choices[0].finish_reason, 'length');

// Raw stream: the first chunk carries the sources and no choices; the answer equals the whole one.
{
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let n = 0, withSources = 0, answer = '', finish = null;
  for await (const chunk of stream) {
    if (chunk.search_results) {
      assert.equal(n, 0, 'search_results come in the first chunk');
      assert.equal(chunk.choices.length, 0);
      assert.deepEqual(chunk.search_results, expected);
      ++withSources;
    }
    for (const c of chunk.choices) {
      answer += c.delta.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
    ++n;
  }
  assert.equal(withSources, 1, 'exactly one chunk has search_results');
  assert.equal(finish, 'length');
  assert.equal(answer, whole.choices[0].message.content, 'same seed, same answer');
}

// The helper that accumulates chunks into a completion.
{
  const runner = client.chat.completions.stream(body);
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices.length, 1);
  assert.equal(final.choices[0].message.content, whole.choices[0].message.content);
}

console.log('all checks passed');
