// The chat page's behaviour: conversation list, composer (DeepThink and Search toggles, attached
// files), streamed answers (search results as source cards, reasoning in a collapsible block, the
// answer as sanitised Markdown with math and citations), stop / regenerate / copy, keyboard.
'use strict';
(() => {
  const { Store, streamChat, searchAvailable, t, setLanguage, translatePage, renderMarkdown, safeUrl, site,
          sourceByIndex } = window.whale;
  const $ = (id) => document.getElementById(id);
  const ui = {
    layout: $('layout'), list: $('conversations'), messages: $('messages'), empty: $('empty'),
    title: $('title'), input: $('input'), form: $('composer'), send: $('send'), stop: $('stop'),
    deepthink: $('deepthink'), search: $('search'), attach: $('attach'), file: $('file'),
    attachments: $('attachments'), notice: $('notice'), menu: $('menu'), scrim: $('scrim'),
    newChat: $('new-chat'), apiKey: $('api-key'), maxTokens: $('max-tokens'), budget: $('thinking-budget'),
    language: $('language'),
  };
  const store = new Store();
  let live = null;  // the answer being streamed: {conv, msg, controller, view, frame}
  let pending = [];  // files attached to the message being written: {filename, file_data, size}
  let searchOk = true;  // whether the server can search (GET /props); see searchAvailable
  const kMaxFileMB = 2.5;  // a file goes as base64 (4/3 of its size) into a body whale caps at 4 MiB
  const kFileTypes = /\.(txt|md|markdown|html?|pdf)$/i;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function copyText(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {  // not a secure context (a LAN address over http): the old way still works
      const t = el('textarea');
      t.value = text;
      document.body.append(t);
      t.select();
      document.execCommand('copy');
      t.remove();
    }
    const label = button.textContent;
    button.textContent = t('copied');
    setTimeout(() => { button.textContent = label; }, 1200);
  }

  // A file as a data: URL (what OpenAI's file part carries).
  function readDataUrl(file) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => {
        // Some systems give .md files no type: name one so the server sees what it is.
        const type = file.type || (/\.pdf$/i.test(file.name) ? 'application/pdf'
          : /\.html?$/i.test(file.name) ? 'text/html' : /\.(md|markdown)$/i.test(file.name) ? 'text/markdown' : 'text/plain');
        resolve(String(r.result).replace(/^data:[^;,]*/, `data:${type}`));
      };
      r.onerror = () => reject(r.error);
      r.readAsDataURL(file);
    });
  }

  // The source behind a citation, shown on hover or focus, and on a first tap on touch screens (a
  // second tap, or a click with a mouse, follows the link). One popover serves the whole page.
  const pop = el('div', 'cite-pop');
  pop.id = 'cite-pop';
  pop.setAttribute('role', 'tooltip');
  pop.hidden = true;
  document.body.append(pop);
  let popAnchor = null;
  let popTimer = 0;
  let tapShown = false;
  function showCite(a) {
    clearTimeout(popTimer);
    const s = sourceByIndex(a.closest('.answer')?.whaleSources, Number(a.dataset.cite));
    if (!s) return;
    const href = safeUrl(s.url);
    const title = el(href ? 'a' : 'div', 'cite-pop-title', String(s.title || s.url || ''));
    if (href) {
      title.href = href;
      title.target = '_blank';
      title.rel = 'noopener noreferrer';
    }
    const head = el('div', 'cite-pop-head');
    head.append(el('span', 'source-num', String(s.index)), el('span', 'cite-pop-site', site(s.url)));
    pop.replaceChildren(head, title, el('div', 'cite-pop-snippet', String(s.snippet ?? '')));
    pop.hidden = false;
    popAnchor = a;
    const r = a.getBoundingClientRect();
    const w = pop.offsetWidth;
    const h = pop.offsetHeight;
    const left = Math.max(8, Math.min(r.left, window.innerWidth - w - 8));
    const top = r.bottom + 6 + h < window.innerHeight ? r.bottom + 6 : Math.max(8, r.top - h - 6);
    pop.style.left = `${left}px`;
    pop.style.top = `${top}px`;
  }
  function hideCite(later) {
    clearTimeout(popTimer);
    const hide = () => { pop.hidden = true; popAnchor = null; };
    if (later) popTimer = setTimeout(hide, 250);  // time to move the pointer into the popover
    else hide();
  }
  const citeOf = (e) => e.target.closest?.('sup.cite a');
  ui.messages.addEventListener('pointerover', (e) => { const a = citeOf(e); if (a && e.pointerType !== 'touch') showCite(a); });
  ui.messages.addEventListener('pointerout', (e) => { if (citeOf(e) && e.pointerType !== 'touch') hideCite(true); });
  ui.messages.addEventListener('focusin', (e) => { const a = citeOf(e); if (a) showCite(a); });
  ui.messages.addEventListener('focusout', (e) => { if (citeOf(e)) hideCite(true); });
  ui.messages.addEventListener('pointerdown', (e) => {
    const a = citeOf(e);
    tapShown = !!a && e.pointerType === 'touch' && popAnchor === a && !pop.hidden;
  });
  ui.messages.addEventListener('click', (e) => {
    const a = citeOf(e);
    if (!a) return;
    const touch = e.pointerType === 'touch' || window.matchMedia('(hover: none)').matches;
    if (!a.href || (touch && !tapShown)) {
      e.preventDefault();
      showCite(a);
    }
  });
  pop.addEventListener('pointerenter', () => clearTimeout(popTimer));
  pop.addEventListener('pointerleave', () => hideCite(true));
  document.addEventListener('pointerdown', (e) => {
    if (!pop.hidden && !pop.contains(e.target) && !citeOf(e)) hideCite(false);
  });
  ui.messages.addEventListener('scroll', () => hideCite(false), { passive: true });

  function renderAnswer(node, text, sources) {
    renderMarkdown(node, text, sources);
    node.whaleSources = sources || [];  // for the citation popover
    for (const pre of node.querySelectorAll('pre')) {
      const b = el('button', 'copy-code', t('copy'));
      b.type = 'button';
      b.addEventListener('click', () => copyText(pre.querySelector('code')?.textContent ?? pre.textContent, b));
      pre.append(b);
    }
  }

  const thoughtLabel = (msg) =>
    msg.thoughtMs == null ? t('thinking') : t('thoughtFor', { s: Math.round(msg.thoughtMs / 1000) });

  // A file's chip: a paperclip, the name, and ✕ to remove it while the message is being written.
  function fileChip(file, onRemove) {
    const chip = el('span', 'file-chip');
    chip.append(ui.attach.querySelector('svg').cloneNode(true), el('span', 'file-name', file.filename));
    chip.title = file.file_data || !onRemove ? file.filename : `${file.filename} (${t('fileNotKept')})`;
    if (onRemove) {
      const x = el('button', 'file-remove', '✕');
      x.type = 'button';
      x.setAttribute('aria-label', t('removeFile', { name: file.filename }));
      x.addEventListener('click', onRemove);
      chip.append(x);
    }
    return chip;
  }

  // "Searched N pages", opening onto one card per result: number, title, site, snippet. Titles and
  // snippets come from web pages: they are set as text, and only http(s) urls become links.
  function fillSources(slot, sources) {
    slot.replaceChildren();
    if (!Array.isArray(sources)) return;
    const details = el('details', 'sources');
    details.append(el('summary', null, sources.length === 1 ? t('searchedOne') : t('searched', { n: sources.length })));
    const cards = el('div', 'source-cards');
    for (const s of sources) {
      const href = safeUrl(s?.url);
      const card = el(href ? 'a' : 'div', 'source-card');
      if (href) {
        card.href = href;
        card.target = '_blank';
        card.rel = 'noopener noreferrer';
      }
      card.dataset.index = String(s?.index ?? '');
      const head = el('div', 'source-head');
      head.append(el('span', 'source-num', String(s?.index ?? '')), el('span', 'source-title', String(s?.title || s?.url || '')));
      card.append(head, el('div', 'source-site', site(s?.url)), el('div', 'source-snippet', String(s?.snippet ?? '')));
      cards.append(card);
    }
    details.append(cards);
    slot.append(details);
  }

  function fillNotices(slot, notices) {
    slot.replaceChildren(...(notices || []).map((n) => el('div', 'msg-notice', String(n))));
  }

  // One message's view; an assistant's keeps handles so streaming can update it in place.
  function messageView(msg, isLast) {
    const root = el('div', `msg ${msg.role}`);
    if (msg.role === 'user') {
      const col = el('div', 'user-col');
      if (msg.files?.length) {
        const files = el('div', 'files');
        files.append(...msg.files.map((f) => fileChip(f)));
        col.append(files);
      }
      if (msg.content) col.append(el('div', 'bubble', msg.content));
      root.append(col);
      return { root };
    }
    const view = { root, msg };
    view.sources = el('div', 'sources-slot');
    view.notices = el('div', 'notices-slot');
    fillSources(view.sources, msg.sources);
    fillNotices(view.notices, msg.notices);
    root.append(view.sources, view.notices);
    if (msg.thinking) {
      const details = el('details', 'reasoning');
      details.open = !msg.reasoningCollapsed;
      details.addEventListener('toggle', () => { msg.reasoningCollapsed = !details.open; });
      view.summary = el('summary', null, thoughtLabel(msg));
      view.reasoning = el('div', 'reasoning-text', msg.reasoning || '');
      details.append(view.summary, view.reasoning);
      view.details = details;
      root.append(details);
    }
    view.answer = el('div', 'answer');
    renderAnswer(view.answer, msg.content || '', msg.sources);
    root.append(view.answer);
    if (live && live.msg === msg) {
      root.classList.add('streaming');
      return view;
    }
    if (msg.error) root.append(el('div', 'msg-error', msg.error));
    if (msg.stopped) root.append(el('div', 'msg-note', t('stopped')));
    if (msg.note === 'length') root.append(el('div', 'msg-note', t('cutOff')));
    const actions = el('div', 'actions');
    const copy = el('button', 'copy', t('copy'));
    copy.type = 'button';
    copy.addEventListener('click', () => copyText(msg.content || '', copy));
    actions.append(copy);
    if (isLast) {
      const again = el('button', 'regenerate', t('regenerate'));
      again.type = 'button';
      again.disabled = !!live;
      again.addEventListener('click', regenerate);
      actions.append(again);
    }
    root.append(actions);
    return view;
  }

  function nearBottom() {
    const m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function renderConversation() {
    const conv = store.current();
    ui.title.textContent = conv?.title || t('untitled');
    document.title = conv?.title ? `${conv.title} · whale` : 'whale';
    for (const n of [...ui.messages.children]) if (n !== ui.empty) n.remove();
    const msgs = conv?.messages ?? [];
    ui.empty.hidden = msgs.length > 0;
    msgs.forEach((msg, i) => {
      const view = messageView(msg, i === msgs.length - 1);
      if (live && live.msg === msg) live.view = view;
      ui.messages.append(view.root);
    });
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function renderList() {
    ui.list.replaceChildren();
    for (const c of store.sorted()) {
      const row = el('div', `conv${c.id === store.currentId ? ' active' : ''}`);
      const open = el('button', 'conv-open', c.title || t('untitled'));
      open.type = 'button';
      open.title = c.title || t('untitled');
      open.addEventListener('click', () => { store.select(c.id); closeSidebar(); render(); });
      const del = el('button', 'conv-delete', '✕');
      del.type = 'button';
      del.title = t('deleteConversation');
      del.setAttribute('aria-label', t('deleteNamed', { name: c.title || t('conversation') }));
      del.addEventListener('click', () => {
        if (live && live.conv === c) live.controller.abort();
        store.remove(c.id);
        render();
      });
      row.append(open, del);
      ui.list.append(row);
    }
  }

  function renderComposer() {
    const busy = !!live;
    ui.send.hidden = busy;
    ui.stop.hidden = !busy;
    ui.send.disabled = !ui.input.value.trim() && !pending.length;
    ui.deepthink.setAttribute('aria-pressed', String(!!store.settings.deepThink));
    ui.search.setAttribute('aria-pressed', String(searchOk && !!store.settings.webSearch));
    ui.search.setAttribute('aria-disabled', String(!searchOk));
    ui.search.title = searchOk ? t('searchTitle') : t('searchUnavailable');
    ui.attachments.hidden = !pending.length;
    ui.attachments.replaceChildren(...pending.map((f, i) => fileChip(f, () => {
      pending.splice(i, 1);
      renderComposer();
      ui.input.focus();
    })));
  }

  function render() {
    renderList();
    renderConversation();
    renderComposer();
  }

  function showNotice(text) {
    ui.notice.textContent = text || '';
    ui.notice.hidden = !text;
  }

  // Streaming repaints at most once a frame; Markdown is re-rendered whole (answers are short).
  function scheduleUpdate() {
    if (!live || live.frame) return;
    live.frame = requestAnimationFrame(() => {
      live.frame = 0;
      const v = live.view;
      if (!v || !v.root.isConnected) return;
      const stick = nearBottom();
      if (v.reasoning) {
        v.reasoning.textContent = live.msg.reasoning;
        v.summary.textContent = thoughtLabel(live.msg);
      }
      renderAnswer(v.answer, live.msg.content, live.msg.sources);
      if (stick) ui.messages.scrollTop = ui.messages.scrollHeight;
    });
  }

  // What the API sees: the conversation's turns without reasoning (DeepSeek's rule) and without
  // answers that produced nothing; a user turn with files is a list of parts (OpenAI's file part:
  // the server extracts the text and applies DeepSeek's file template).
  function history(conv, upTo) {
    return conv.messages.slice(0, upTo)
      .filter((m) => m.role === 'user' || m.content)
      .map((m) => {
        const files = (m.files || []).filter((f) => f.file_data);
        if (m.role !== 'user' || !files.length) return { role: m.role, content: m.content };
        return { role: 'user', content: [{ type: 'text', text: m.content },
          ...files.map((f) => ({ type: 'file', file: { filename: f.filename, file_data: f.file_data } }))] };
      });
  }

  async function generate(conv) {
    const msg = { role: 'assistant', content: '', reasoning: '', thinking: !!store.settings.deepThink,
                  search: searchOk && !!store.settings.webSearch };
    conv.messages.push(msg);
    store.touch(conv);
    const controller = new AbortController();
    live = { conv, msg, controller, view: null, frame: 0 };
    showNotice('');
    render();
    const started = performance.now();
    const endThinking = () => {
      if (msg.thinking && msg.thoughtMs == null) msg.thoughtMs = performance.now() - started;
    };
    try {
      const finish = await streamChat({
        messages: history(conv, conv.messages.length - 1),
        thinking: msg.thinking,
        search: msg.search,
        settings: store.settings,
        signal: controller.signal,
        on: {
          reasoning: (text) => { msg.reasoning += text; scheduleUpdate(); },
          content: (text) => { endThinking(); msg.content += text; scheduleUpdate(); },
          sources: (list) => {
            msg.sources = list;
            if (live?.view) fillSources(live.view.sources, list);
            scheduleUpdate();
          },
          notices: (list) => {
            msg.notices = [...(msg.notices || []), ...list];
            if (live?.view) fillNotices(live.view.notices, msg.notices);
          },
        },
      });
      if (finish === 'length') msg.note = 'length';
    } catch (e) {
      if (e.name === 'AbortError') msg.stopped = true;
      else msg.error = e.message;
    } finally {
      endThinking();
      if (live?.frame) cancelAnimationFrame(live.frame);
      live = null;
      store.touch(conv);
      store.persist();
      if (store.saveFailed) showNotice(store.saveFailed === 'files' ? t('saveFailedFiles') : t('saveFailed'));
      render();
      if (window.matchMedia('(hover: hover)').matches) ui.input.focus();
    }
  }

  function send() {
    const text = ui.input.value.trim();
    if ((!text && !pending.length) || live) return;
    const conv = store.current() || store.create();
    const msg = { role: 'user', content: text };
    if (pending.length) msg.files = pending.map(({ filename, file_data }) => ({ filename, file_data }));
    conv.messages.push(msg);
    pending = [];
    ui.input.value = '';
    autosize();
    generate(conv);
  }

  function regenerate() {
    const conv = store.current();
    if (!conv || live) return;
    if (conv.messages.at(-1)?.role === 'assistant') conv.messages.pop();
    if (conv.messages.at(-1)?.role === 'user') generate(conv);
  }

  function stop() {
    if (live) live.controller.abort();
  }

  function newChat() {
    const conv = store.current();
    if (!conv || conv.messages.length > 0) store.create();  // an empty current chat is reused
    closeSidebar();
    render();
    ui.input.focus();
  }

  function autosize() {
    ui.input.style.height = 'auto';
    ui.input.style.height = `${ui.input.scrollHeight}px`;
    renderComposer();
  }

  const openSidebar = () => { ui.layout.classList.add('side-open'); ui.menu.setAttribute('aria-expanded', 'true'); };
  function closeSidebar() {
    ui.layout.classList.remove('side-open');
    ui.menu.setAttribute('aria-expanded', 'false');
  }

  ui.form.addEventListener('submit', (e) => { e.preventDefault(); send(); });
  ui.input.addEventListener('input', autosize);
  ui.input.addEventListener('keydown', (e) => {
    // Enter sends; Shift+Enter is a newline; Enter that confirms an IME composition (中文 input) is neither.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      if (!pop.hidden) hideCite(false);
      else if (live) stop();
      else closeSidebar();
    } else if ((e.ctrlKey || e.metaKey) && e.shiftKey && e.key.toLowerCase() === 'o') {
      e.preventDefault();
      newChat();
    }
  });
  ui.stop.addEventListener('click', stop);
  ui.newChat.addEventListener('click', newChat);
  ui.deepthink.addEventListener('click', () => {
    store.setSetting('deepThink', !store.settings.deepThink);
    renderComposer();
  });
  ui.search.addEventListener('click', () => {
    if (!searchOk) return;
    store.setSetting('webSearch', !store.settings.webSearch);
    renderComposer();
  });
  ui.attach.addEventListener('click', () => ui.file.click());
  ui.file.addEventListener('change', async () => {
    const chosen = [...ui.file.files];
    ui.file.value = '';  // the same file can be chosen again after removing it
    for (const f of chosen) {
      if (!kFileTypes.test(f.name)) {
        showNotice(t('fileType', { name: f.name }));
      } else if (f.size > kMaxFileMB * 1024 * 1024) {
        showNotice(t('fileTooBig', { name: f.name, size: (f.size / 1048576).toFixed(1), max: kMaxFileMB }));
      } else {
        try {
          pending.push({ filename: f.name, file_data: await readDataUrl(f), size: f.size });
          showNotice('');
        } catch {
          showNotice(t('fileUnreadable', { name: f.name }));
        }
      }
    }
    renderComposer();
    ui.input.focus();
  });
  ui.language.value = store.settings.language || 'auto';
  ui.language.addEventListener('change', () => {
    store.setSetting('language', ui.language.value);
    setLanguage(ui.language.value);
    translatePage();
    render();
  });
  ui.menu.addEventListener('click', openSidebar);
  ui.scrim.addEventListener('click', closeSidebar);
  for (const [input, name] of [[ui.apiKey, 'apiKey'], [ui.maxTokens, 'maxTokens'], [ui.budget, 'thinkingBudget']]) {
    input.value = store.settings[name] ?? '';
    input.addEventListener('change', () => store.setSetting(name, input.value.trim()));
  }
  window.addEventListener('beforeunload', () => store.persist());

  // Say early when the server is gone, rather than at the first message; learn whether it searches.
  fetch('health').then((r) => {
    if (!r.ok) showNotice(t('serverProblem', { status: r.status }));
    const headers = store.settings.apiKey ? { Authorization: `Bearer ${store.settings.apiKey}` } : {};
    return fetch('props', { headers }).then((p) => (p.ok ? p.json() : null)).catch(() => null);
  }).then((props) => {
    searchOk = searchAvailable(props);
    renderComposer();
  }, () => showNotice(t('unreachableStart', { host: location.host })));

  setLanguage(store.settings.language);
  translatePage();
  if (!store.current() && store.conversations.length) store.select(store.sorted()[0].id);
  render();
  autosize();
})();
