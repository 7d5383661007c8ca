// What the web page tests share: Debian's chromium launched headless on a fresh profile, a record
// of the page's requests, chat bodies and console errors, named steps that stop at the first
// failure with a screenshot, and scripted SSE streams for page.route.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const kArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A persistent context (a real profile: localStorage survives reloads) with one page.
export async function openBrowser(executablePath, options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'whale-web-profile-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, viewport: { width: 1280, height: 800 }, args: kArgs, ...options,
  });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  page.setDefaultTimeout(60000);  // generous: CI machines are 2 loaded cores
  const close = async () => {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { ctx, page, close };
}

// Every URL the page asks for, every chat request body (and, once done, its response text), and
// console errors (CSP violations included) and uncaught exceptions.
export function watch(page) {
  const seen = { requests: [], chats: [], problems: [] };
  page.on('request', (r) => {
    seen.requests.push(r.url());
    if (r.url().endsWith('/v1/chat/completions')) seen.chats.push({ body: JSON.parse(r.postData()), response: null });
  });
  page.on('response', async (r) => {
    if (!r.url().endsWith('/v1/chat/completions')) return;
    const entry = seen.chats.findLast((c) => c.response === null);
    try { if (entry) entry.response = await r.text(); } catch { if (entry) entry.response = ''; }
  });
  page.on('console', (m) => { if (m.type() === 'error') seen.problems.push(m.text()); });
  page.on('pageerror', (e) => seen.problems.push(e.message));
  page.on('requestfailed', (r) => console.log(`     (request failed: ${r.url()} ${r.failure()?.errorText})`));
  return seen;
}

export function check(cond, what) {
  if (!cond) throw new Error(what);
}

// step(name, fn) runs one check, prints ok/FAIL, and on failure saves failure.png and rethrows;
// shot(name) saves OUTPUT_DIR/name.png.
export function steps(page, out) {
  const state = { failed: false };
  state.step = async (name, fn) => {
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (e) {
      console.log(`FAIL ${name}: ${e.message}`);
      await page.screenshot({ path: join(out, 'failure.png') }).catch(() => {});
      state.failed = true;
      throw e;
    }
  };
  state.shot = (name, p = page) => p.screenshot({ path: join(out, `${name}.png`) });
  return state;
}

// A whole chat completion stream as the server sends it: each object a `data:` event, then [DONE].
export const sse = (chunks) => chunks.map((j) => `data: ${JSON.stringify(j)}\n\n`).join('') + 'data: [DONE]\n\n';
