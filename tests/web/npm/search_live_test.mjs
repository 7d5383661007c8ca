// The web chat's 联网搜索 against a real `whale serve --search INDEX` (tiny random model, a Xapian
// index of tests/search/data/corpus): the page learns from /props that search is on, sends
// web_search, and shows the sources the server found, in the server's order, as cards.
// Usage: node search_live_test.mjs URL OUTPUT_DIR CHROMIUM.
import { openBrowser, watch, check, steps } from './harness.mjs';

const [base, out, executablePath] = process.argv.slice(2);
const { page, close } = await openBrowser(executablePath);
const { chats, problems } = watch(page);
const { step, shot } = steps(page, out);
let failed = false;

try {
  await step('live search: toggle enabled by /props, sources from the index as cards', async () => {
    // Settings as the page stores them: DeepThink off and 8 tokens, a short answer from the random model.
    await page.addInitScript(() => {
      if (!localStorage.getItem('whale.settings')) {
        localStorage.setItem('whale.settings', JSON.stringify({ deepThink: false, maxTokens: '8' }));
      }
    });
    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.getElementById('search').getAttribute('aria-disabled') === 'false');
    check(await page.getAttribute('#deepthink', 'aria-pressed') === 'false', 'DeepThink should start off');
    await page.click('#search');
    await page.fill('#input', 'What do whale sharks eat?');
    await page.press('#input', 'Enter');
    await page.waitForFunction(() => !document.querySelector('.streaming') &&
                               document.querySelector('.msg.assistant:last-child .actions'));
    const chat = chats.at(-1);
    for (let i = 0; i < 600 && chat.response === null; ++i) await new Promise((r) => setTimeout(r, 100));
    check(chat.response, 'the chat response body never arrived');
    check(chat.body.web_search === true, `request: ${JSON.stringify(chat.body)}`);
    // The server's first stream chunk carries the results; the page must show exactly those.
    const first = JSON.parse(chat.response.split('\n').find((l) => l.startsWith('data: {')).slice(6));
    check(Array.isArray(first.search_results) && first.search_results.length > 0, `first chunk: ${JSON.stringify(first)}`);
    check(first.search_results[0].url.endsWith('whale_shark_diet.md'), `top result ${first.search_results[0].url}`);
    const a = page.locator('.msg.assistant').last();
    const n = first.search_results.length;
    check(await a.locator('.sources summary').textContent() === `Searched ${n} pages`, 'sources row label');
    await a.locator('.sources summary').click();
    const cards = a.locator('.source-card');
    check(await cards.count() === n, `${await cards.count()} cards for ${n} results`);
    for (let i = 0; i < n; ++i) {
      const r = first.search_results[i];
      check(await cards.nth(i).locator('.source-title').textContent() === r.title, `card ${i + 1} title`);
      check(await cards.nth(i).locator('.source-num').textContent() === String(r.index), `card ${i + 1} number`);
    }
    check(problems.length === 0, `console errors: ${problems.join(' | ')}`);
    await shot('20-live-search');
  });
} catch {
  failed = true;
} finally {
  await close();
}
console.log(failed ? 'live search test FAILED' : 'live search test passed');
process.exit(failed ? 1 : 0);
