// The web chat's search, citation, file, math and language features in headless chromium. Search
// answers come from scripted streams (page.route), so the test decides what the model "wrote" and
// which pages it "found"; the request bodies are checked as sent; the real `whale serve` (tiny
// random model) answers the rest. Usage: node features_test.mjs URL OUTPUT_DIR CHROMIUM.
import { openBrowser, watch, check, steps, sse } from './harness.mjs';

const [base, out, executablePath] = process.argv.slice(2);
const origin = new URL(base).origin;
const chatRoute = '**/v1/chat/completions';

// Three search results as the server sends them; the second comes from a hostile page: markup in
// its title and snippet, a javascript: url.
const results = [
  { index: 1, title: 'Whale song — Wikipedia', url: 'https://en.wikipedia.org/wiki/Whale_song',
    snippet: 'Humpback whales sing songs that can last for hours and change from year to year.' },
  { index: 2, title: '<img src=x onerror="window.__pwned=1">Tricky & <b>bold</b>', url: 'javascript:window.__pwned=2',
    snippet: '<script>window.__pwned=3</script>markup in a snippet' },
  { index: 3, title: '座头鲸的歌声', url: 'https://zh.example.org/鲸/歌?q=1', snippet: '座头鲸的歌声可以持续数小时。' },
];
const notice = 'notes.md is longer than the context: only its first 3000 characters were read.';
const answer = 'Humpback whales sing for hours[citation:1][citation:3]. Odd page[citation:2]. ' +
  'Not a source: [citation:9]. Code keeps `[citation:1]` as typed.\n\n```\n[citation:3] in a block\n```\n\n' +
  'Two at once[citation:1, 3].';
// The answer arrives in pieces cut mid-citation, after one chunk with the results (and notices).
function searchStream({ sources = results, notices } = {}) {
  const head = { object: 'chat.completion.chunk', choices: [] };
  if (sources) head.search_results = sources;
  if (notices) head.notices = notices;
  const pieces = [answer.slice(0, 40), answer.slice(40, 95), answer.slice(95)];
  return sse([head,
    ...pieces.map((content) => ({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: null }] })),
    { object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }]);
}
const fulfillStream = (body) => (r) => r.fulfill({ status: 200, contentType: 'text/event-stream', body });
// /props as the server sends it, with `web_search` set: the page reads availability from there
// (this tiny server has no index, so the tests that search say it has one, and script the answers).
const propsWith = (search) => async (r) => {
  const res = await r.fetch();
  r.fulfill({ response: res, json: { ...(await res.json()), web_search: search } });
};

const { ctx, page, close } = await openBrowser(executablePath);
const { requests, chats, problems } = watch(page);
const { step, shot } = steps(page, out);
let failed = false;
let phone = null;

const lastAssistant = () => page.locator('.msg.assistant').last();
const waitDone = (p = page) => p.waitForFunction(() => !document.querySelector('.streaming') &&
                                                 document.querySelector('.msg.assistant:last-child .actions'));
async function sendMessage(text, p = page) {
  await p.fill('#input', text);
  await p.press('#input', 'Enter');
}
async function openSettings() {
  if (!(await page.locator('#settings').evaluate((d) => d.open))) await page.click('#settings summary');
}

try {
  await step('no search on the server: the Search toggle is greyed out and says why', async () => {
    await page.route('**/props', propsWith(false));
    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.getElementById('search').getAttribute('aria-disabled') === 'true');
    check((await page.getAttribute('#search', 'title')).includes('--search'), 'the tooltip should name --search');
    await page.click('#search', { force: true });  // force: Playwright itself waits for aria-disabled to clear
    check(await page.getAttribute('#search', 'aria-pressed') === 'false', 'a disabled toggle switched on');
    await page.unroute('**/props');
  });

  await step('English labels (the browser is en-US)', async () => {
    await page.route('**/props', propsWith(true));
    await page.reload();
    await page.waitForFunction(() => document.getElementById('search').getAttribute('aria-disabled') === 'false');
    check(await page.textContent('#search') === 'Search', `search label "${await page.textContent('#search')}"`);
    check(await page.textContent('#deepthink') === 'DeepThink', 'DeepThink label');
    check(await page.getAttribute('#attach', 'aria-label') === 'Attach a file', 'attach label');
    check(await page.getAttribute('#input', 'placeholder') === 'Message whale', 'placeholder');
    check(await page.evaluate(() => document.documentElement.lang) === 'en', 'html lang');
  });

  await step('Search on: web_search in the request; sources row and cards; remembered', async () => {
    await page.click('#deepthink');  // off: the scripted streams carry no reasoning
    await page.click('#search');
    check(await page.getAttribute('#search', 'aria-pressed') === 'true', 'toggle did not switch on');
    await page.route(chatRoute, fulfillStream(searchStream()));
    await sendMessage('How long do whales sing?');
    await waitDone();
    check(chats.at(-1).body.web_search === true, `request: ${JSON.stringify(chats.at(-1).body)}`);
    const a = lastAssistant();
    check(await a.locator('.sources summary').textContent() === 'Searched 3 pages', 'sources row label');
    check(!(await a.locator('.source-card').first().isVisible()), 'the cards start folded');
    await a.locator('.sources summary').click();
    const cards = a.locator('.source-card');
    check(await cards.count() === 3, 'three cards');
    const first = cards.nth(0);
    check(await first.evaluate((n) => n.tagName) === 'A', 'card 1 is a link');
    check(await first.getAttribute('href') === results[0].url, 'card 1 href');
    check(await first.getAttribute('target') === '_blank', 'card 1 opens a new tab');
    check((await first.getAttribute('rel')).split(' ').includes('noopener'), 'card 1 rel=noopener');
    check(await first.locator('.source-num').textContent() === '1', 'card 1 number');
    check(await first.locator('.source-title').textContent() === results[0].title, 'card 1 title');
    check(await first.locator('.source-site').textContent() === 'en.wikipedia.org/wiki/Whale_song', 'card 1 site');
    check(await first.locator('.source-snippet').textContent() === results[0].snippet, 'card 1 snippet');
    check(await cards.nth(2).locator('.source-site').textContent() === 'zh.example.org/鲸/歌', 'card 3 site');
    // The hostile result: its markup is text, its javascript: url no link.
    const bad = cards.nth(1);
    check(await bad.evaluate((n) => n.tagName) === 'DIV' && await bad.getAttribute('href') === null, 'javascript: became a link');
    check(await bad.locator('.source-title').textContent() === results[1].title, 'hostile title not shown as text');
    check(await bad.locator('.source-snippet').textContent() === results[1].snippet, 'hostile snippet not shown as text');
    check(await page.locator('#messages img, #messages script, #messages b').count() === 0, 'markup from a result was parsed');
    check(await page.evaluate(() => window.__pwned) === undefined, 'code from a result ran');
    await shot('10-search-sources');
    await page.unroute(chatRoute);
    // The setting lasts.
    await page.reload();
    await page.locator('.msg.assistant').first().waitFor();
    await page.waitForFunction(() => document.getElementById('search').getAttribute('aria-pressed') === 'true');
    check(await lastAssistant().locator('.sources summary').textContent() === 'Searched 3 pages', 'sources kept with the conversation');
  });

  await step('[citation:X] becomes superscript links to the source, outside code only', async () => {
    const a = lastAssistant().locator('.answer');
    const sups = a.locator('sup.cite a');
    check(JSON.stringify(await sups.allTextContents()) === '["1","3","2","1","3"]', `citations: ${await sups.allTextContents()}`);
    check(await sups.nth(0).getAttribute('href') === results[0].url, 'citation 1 href');
    check(await sups.nth(0).getAttribute('target') === '_blank', 'citation opens a new tab');
    check((await sups.nth(0).getAttribute('rel')).split(' ').includes('noopener'), 'citation rel=noopener');
    check(await sups.nth(1).getAttribute('href') === new URL(results[2].url).href, 'citation 3 href');
    check(await sups.nth(2).getAttribute('href') === null, 'the javascript: source became a link');
    const text = await a.innerText();
    check(text.includes('Not a source: [citation:9].'), 'an unknown citation should stay as written');
    check(await a.locator('code').first().textContent() === '[citation:1]', 'inline code changed');
    check((await a.locator('pre code').textContent()).includes('[citation:3] in a block'), 'code block changed');
    check(await a.locator('code sup, pre sup').count() === 0, 'a citation was linked inside code');
  });

  await step('a citation shows its source on hover and on focus', async () => {
    const sup = lastAssistant().locator('sup.cite a').first();
    await sup.hover();
    const pop = page.locator('#cite-pop');
    await pop.waitFor({ state: 'visible' });
    check(await pop.locator('.cite-pop-title').textContent() === results[0].title, 'popover title');
    check(await pop.locator('.cite-pop-title').getAttribute('href') === results[0].url, 'popover link');
    check(await pop.locator('.cite-pop-snippet').textContent() === results[0].snippet, 'popover snippet');
    await shot('11-citation-hover');
    await page.mouse.move(5, 5);
    await pop.waitFor({ state: 'hidden' });
    // The hostile source through the popover: text again, and its citation shows it when clicked.
    await lastAssistant().locator('sup.cite a').nth(2).click();
    await pop.waitFor({ state: 'visible' });
    check(await pop.locator('.cite-pop-title').textContent() === results[1].title, 'hostile popover title');
    check(await pop.locator('a').count() === 0 && await pop.locator('img, script, b').count() === 0, 'hostile popover markup');
    check(page.url() === `${base}/`, 'the page navigated');
    await page.keyboard.press('Escape');
    await pop.waitFor({ state: 'hidden' });
  });

  await step('Search off: no web_search in the request', async () => {
    await page.click('#search');
    await page.route(chatRoute, fulfillStream(searchStream({ sources: null })));
    await sendMessage('And without search?');
    await waitDone();
    await page.unroute(chatRoute);
    check(!('web_search' in chats.at(-1).body), `request: ${JSON.stringify(chats.at(-1).body)}`);
    check(await lastAssistant().locator('.sources').count() === 0, 'a sources row without results');
    check(await lastAssistant().locator('sup.cite').count() === 0, 'citations linked without results');
    check((await lastAssistant().locator('.answer').innerText()).includes('[citation:1]'), 'citations without results stay text');
  });

  await step('attach: chips before sending, the file part in the request, the chip in the bubble, notices', async () => {
    const md = Buffer.from('# Notes\n\n鲸鱼 sing; whales sing.\n');
    const pdf = Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n', 'latin1');
    await page.setInputFiles('#file', [{ name: 'notes.md', mimeType: 'text/markdown', buffer: md },
                                       { name: 'paper.pdf', mimeType: 'application/pdf', buffer: pdf }]);
    const chips = page.locator('#attachments .file-chip');
    await page.waitForFunction(() => document.querySelectorAll('#attachments .file-chip').length === 2);
    check(JSON.stringify(await chips.locator('.file-name').allTextContents()) === '["notes.md","paper.pdf"]', 'chips');
    await shot('12-attach-chips');
    await chips.nth(1).locator('.file-remove').click();
    check(await chips.count() === 1, 'the chip was not removed');
    await page.setInputFiles('#file', [{ name: 'tool.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') }]);
    await page.locator('#notice', { hasText: 'tool.exe' }).waitFor();
    check(await chips.count() === 1, 'a .exe was attached');
    await page.setInputFiles('#file', [{ name: 'big.txt', mimeType: 'text/plain', buffer: Buffer.alloc(3 << 20, 'a') }]);
    await page.locator('#notice', { hasText: 'big.txt is 3.0 MB' }).waitFor();
    check(await chips.count() === 1, 'a file over the limit was attached');
    await page.route(chatRoute, fulfillStream(searchStream({ sources: null, notices: [notice] })));
    await sendMessage('Summarise the notes');
    await waitDone();
    const expected = [{ type: 'text', text: 'Summarise the notes' },
                      { type: 'file', file: { filename: 'notes.md', file_data: `data:text/markdown;base64,${md.toString('base64')}` } }];
    check(JSON.stringify(chats.at(-1).body.messages.at(-1).content) === JSON.stringify(expected),
          `file part: ${JSON.stringify(chats.at(-1).body.messages.at(-1).content).slice(0, 300)}`);
    check(await page.locator('#attachments').isHidden(), 'chips stay after sending');
    const bubble = page.locator('.msg.user').last();
    check(await bubble.locator('.file-chip .file-name').textContent() === 'notes.md', 'the bubble has no file chip');
    check(await bubble.locator('.file-remove').count() === 0, 'a sent file can be removed');
    check(await lastAssistant().locator('.msg-notice').textContent() === notice, 'notice not shown');
    await shot('13-attach-sent');
    // A later question sends the file again (the server keeps nothing).
    await sendMessage('And the title?');
    await waitDone();
    await page.unroute(chatRoute);
    const turns = chats.at(-1).body.messages;
    check(JSON.stringify(turns.at(-3).content) === JSON.stringify(expected), 'the file is missing from the history');
    check(turns.at(-1).content === 'And the title?', 'a plain question stays a string');
  });

  await step('math renders with KaTeX; code blocks and prices stay text', async () => {
    await page.click('#new-chat');
    const tex = 'The answer is \\boxed{5758}.\n\nSo $$\\frac{a}{b} = \\sqrt{2}$$ and $x^2$; it costs $5 and $10.\n\n' +
      '\\[\n\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}\n\\]\n\n```tex\n$not math$ \\boxed{1}\n```\n\nAlso `$x$` in code.' +
      ' No link from $\\href{javascript:window.__pwned=4}{x}$ (KaTeX trusts nothing).';
    await page.route(chatRoute, fulfillStream(sse([
      { choices: [{ index: 0, delta: { content: tex.slice(0, 20) }, finish_reason: null }] },
      { choices: [{ index: 0, delta: { content: tex.slice(20) }, finish_reason: null }] },
      { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }])));
    await sendMessage('What is 5758?');
    await waitDone();
    await page.unroute(chatRoute);
    const a = lastAssistant().locator('.answer');
    check(await a.locator('.katex').count() === 5, `formulas: ${await a.locator('.katex').count()}`);
    check(await a.locator('a').count() === 0, 'a formula made a link');
    check(await a.locator('.katex-display').count() === 2, 'display formulas');
    check((await a.locator('.katex').first().locator('.katex-html').textContent()).includes('5758'), '\\boxed content');
    check(await a.locator('.katex-error').count() === 0, 'KaTeX reported an error');
    // What a reader sees outside code: no TeX source left.
    const visible = await a.evaluate((n) => {
      const c = n.cloneNode(true);
      for (const x of c.querySelectorAll('pre, code, .katex-mathml')) x.remove();
      document.body.append(c);
      const text = c.innerText;
      c.remove();
      return text;
    });
    for (const literal of ['\\boxed', '\\frac', '\\sum', '$$', '\\[', '$x^2$', '$\\href']) {
      check(!visible.includes(literal), `"${literal}" shown literally: ${visible}`);
    }
    check(visible.includes('it costs $5 and $10.'), `prices: ${visible}`);
    check(await a.locator('pre code').textContent() === '$not math$ \\boxed{1}\n', 'the code block changed');
    check(await a.locator('p code').textContent() === '$x$', 'inline code changed');
    check(await page.evaluate(() => window.__pwned) === undefined, 'code from a formula ran');
    // KaTeX's own fonts, from the data: URIs (a broken one would fail to decode: status "error").
    const fonts = await page.evaluate(async () => {
      await document.fonts.ready;
      return [...document.fonts].filter((f) => f.family.replace(/"/g, '').startsWith('KaTeX_')).map((f) => f.status);
    });
    check(fonts.length >= 20 && !fonts.includes('error') && fonts.filter((s) => s === 'loaded').length >= 2,
          `KaTeX fonts: ${JSON.stringify(fonts)}`);
    const mainFont = await a.locator('.katex .mord').first().evaluate((n) => getComputedStyle(n).fontFamily);
    check(mainFont.includes('KaTeX'), `formula font: ${mainFont}`);
    check(await page.evaluate(() => document.fonts.check('16px KaTeX_Main', '5758')), 'KaTeX_Main not loaded');
    await shot('14-math');
  });

  await step('中文 labels, and the real server in Chinese', async () => {
    await openSettings();
    await page.selectOption('#language', 'zh');
    check(await page.textContent('#search') === '联网搜索', `search label "${await page.textContent('#search')}"`);
    check(await page.textContent('#deepthink') === '深度思考', 'DeepThink label');
    check(await page.getAttribute('#attach', 'aria-label') === '上传附件', 'attach label');
    check(await page.textContent('#send') === '发送', 'send label');
    check(await page.getAttribute('#input', 'placeholder') === '给 whale 发送消息', 'placeholder');
    check(await page.evaluate(() => document.documentElement.lang) === 'zh-CN', 'html lang');
    await page.click('#deepthink');  // on (Search is off: this tiny server has no index)
    await page.click('#new-chat');
    await page.fill('#max-tokens', '24');
    await page.dispatchEvent('#max-tokens', 'change');
    await page.fill('#thinking-budget', '8');
    await page.dispatchEvent('#thinking-budget', 'change');
    await sendMessage('你好，鲸鱼');
    await waitDone();
    const summary = await lastAssistant().locator('.reasoning summary').textContent();
    check(/^已深度思考（用时 \d+ 秒）$/.test(summary), `reasoning summary "${summary}"`);
    check(await lastAssistant().locator('.regenerate').textContent() === '重新生成', 'regenerate label');
    check(chats.at(-1).body.thinking.type === 'enabled' && !('web_search' in chats.at(-1).body), 'real request');
    // The search conversation, re-labelled.
    await page.locator('.conv-open', { hasText: 'How long do whales sing?' }).click();
    check(await page.locator('.sources summary').first().textContent() === '已搜索到 3 个网页', 'sources row in Chinese');
    await page.locator('.sources summary').first().click();
    await shot('15-zh');
  });

  await step('phone (touch, zh-CN browser): Chinese by default; a tap shows the source, not the page', async () => {
    phone = await openBrowser(executablePath, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true,
                                                locale: 'zh-CN' });
    const p = phone.page;
    const seen = watch(p);
    await p.route('**/props', propsWith(true));
    await p.goto(`${base}/`);
    check(await p.textContent('#search') === '联网搜索', 'navigator.language zh-CN should choose Chinese');
    await p.waitForFunction(() => document.getElementById('search').getAttribute('aria-disabled') === 'false');
    await p.tap('#deepthink');  // off
    await p.tap('#search');
    await p.route(chatRoute, fulfillStream(searchStream()));
    await sendMessage('鲸鱼唱多久？', p);
    await waitDone(p);
    check(seen.chats.at(-1).body.web_search === true, 'web_search from the phone');
    const sup = p.locator('.msg.assistant sup.cite a').first();
    await sup.tap();
    const pop = p.locator('#cite-pop');
    await pop.waitFor({ state: 'visible' });
    check(await pop.locator('.cite-pop-title').textContent() === results[0].title, 'tap popover title');
    check(p.url() === `${base}/` && phone.ctx.pages().length === 1, 'the tap followed the link');
    const box = await pop.boundingBox();
    check(box.x >= 0 && box.x + box.width <= 390, `the popover leaves the screen: ${JSON.stringify(box)}`);
    await shot('16-phone-citation', p);
    await p.tap('#title');
    await pop.waitFor({ state: 'hidden' });
    check(await p.evaluate(() => document.documentElement.scrollWidth <= 390), 'horizontal overflow');
    check(seen.requests.every((u) => new URL(u).origin === origin), 'the phone contacted another host');
    check(seen.problems.length === 0, `phone console errors: ${seen.problems.join(' | ')}`);
  });

  await step('only the whale server was contacted; no console errors', async () => {
    const foreign = requests.filter((u) => new URL(u).origin !== origin);
    check(foreign.length === 0, `requests elsewhere: ${foreign.join(', ')}`);
    check(problems.length === 0, `console errors: ${problems.join(' | ')}`);
  });
} catch {
  failed = true;
} finally {
  if (phone) await phone.close();
  await close();
}
console.log(failed ? 'web features test FAILED' : 'web features test passed');
process.exit(failed ? 1 : 0);
