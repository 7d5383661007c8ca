// The chat page's behaviour: conversation list, composer, streamed answers (reasoning in a
// collapsible block, the answer as sanitised Markdown), stop / regenerate / copy, keyboard.
'use strict';
(() => {
  const { Store, streamChat } = window.whale;
  const $ = (id) => document.getElementById(id);
  const ui = {
    layout: $('layout'), list: $('conversations'), messages: $('messages'), empty: $('empty'),
    title: $('title'), input: $('input'), form: $('composer'), send: $('send'), stop: $('stop'),
    deepthink: $('deepthink'), notice: $('notice'), menu: $('menu'), scrim: $('scrim'),
    newChat: $('new-chat'), apiKey: $('api-key'), maxTokens: $('max-tokens'), budget: $('thinking-budget'),
  };
  const store = new Store();
  let live = null;  // the answer being streamed: {conv, msg, controller, view, frame}

  // Links open elsewhere and never leak this page as referrer; images from other hosts are not
  // fetched (the page talks to the whale server only; the CSP blocks them too).
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    } else if (node.tagName === 'IMG' && !/^data:image\//.test(node.getAttribute('src') || '')) {
      node.title = `not loaded: ${node.getAttribute('src') || ''}`;
      node.removeAttribute('src');
      node.removeAttribute('srcset');
    }
  });
  const markdown = (text) => DOMPurify.sanitize(marked.parse(text, { gfm: true, breaks: false }));

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
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = label; }, 1200);
  }

  function renderAnswer(node, text) {
    node.innerHTML = markdown(text);
    for (const pre of node.querySelectorAll('pre')) {
      const b = el('button', 'copy-code', 'Copy');
      b.type = 'button';
      b.addEventListener('click', () => copyText(pre.querySelector('code')?.textContent ?? pre.textContent, b));
      pre.append(b);
    }
  }

  const thoughtLabel = (msg) =>
    msg.thoughtMs == null ? 'Thinking…' : `Thought for ${Math.round(msg.thoughtMs / 1000)} s`;

  // One message's view; an assistant's keeps handles so streaming can update it in place.
  function messageView(msg, isLast) {
    const root = el('div', `msg ${msg.role}`);
    if (msg.role === 'user') {
      root.append(el('div', 'bubble', msg.content));
      return { root };
    }
    const view = { root, msg };
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
    renderAnswer(view.answer, msg.content || '');
    root.append(view.answer);
    if (live && live.msg === msg) {
      root.classList.add('streaming');
      return view;
    }
    if (msg.error) root.append(el('div', 'msg-error', msg.error));
    if (msg.stopped) root.append(el('div', 'msg-note', 'Stopped.'));
    if (msg.note === 'length') root.append(el('div', 'msg-note', 'Cut off at the token limit.'));
    const actions = el('div', 'actions');
    const copy = el('button', 'copy', 'Copy');
    copy.type = 'button';
    copy.addEventListener('click', () => copyText(msg.content || '', copy));
    actions.append(copy);
    if (isLast) {
      const again = el('button', 'regenerate', 'Regenerate');
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
    ui.title.textContent = conv?.title || 'New chat';
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
      const open = el('button', 'conv-open', c.title || 'New chat');
      open.type = 'button';
      open.title = c.title || 'New chat';
      open.addEventListener('click', () => { store.select(c.id); closeSidebar(); render(); });
      const del = el('button', 'conv-delete', '✕');
      del.type = 'button';
      del.title = 'Delete this conversation';
      del.setAttribute('aria-label', `Delete ${c.title || 'conversation'}`);
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
    ui.send.disabled = !ui.input.value.trim();
    ui.deepthink.setAttribute('aria-pressed', String(!!store.settings.deepThink));
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
      renderAnswer(v.answer, live.msg.content);
      if (stick) ui.messages.scrollTop = ui.messages.scrollHeight;
    });
  }

  // What the API sees: the conversation's turns without reasoning (DeepSeek's rule) and without
  // answers that produced nothing.
  function history(conv, upTo) {
    return conv.messages.slice(0, upTo)
      .filter((m) => m.role === 'user' || m.content)
      .map((m) => ({ role: m.role, content: m.content }));
  }

  async function generate(conv) {
    const msg = { role: 'assistant', content: '', reasoning: '', thinking: !!store.settings.deepThink };
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
        settings: store.settings,
        signal: controller.signal,
        on: {
          reasoning: (t) => { msg.reasoning += t; scheduleUpdate(); },
          content: (t) => { endThinking(); msg.content += t; scheduleUpdate(); },
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
      if (store.saveFailed) showNotice('This browser would not save the conversation (storage full or disabled).');
      render();
      if (window.matchMedia('(hover: hover)').matches) ui.input.focus();
    }
  }

  function send() {
    const text = ui.input.value.trim();
    if (!text || live) return;
    const conv = store.current() || store.create();
    conv.messages.push({ role: 'user', content: text });
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
      if (live) stop();
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
  ui.menu.addEventListener('click', openSidebar);
  ui.scrim.addEventListener('click', closeSidebar);
  for (const [input, name] of [[ui.apiKey, 'apiKey'], [ui.maxTokens, 'maxTokens'], [ui.budget, 'thinkingBudget']]) {
    input.value = store.settings[name] ?? '';
    input.addEventListener('change', () => store.setSetting(name, input.value.trim()));
  }
  window.addEventListener('beforeunload', () => store.persist());

  // Say early when the server is gone, rather than at the first message.
  fetch('health').then((r) => {
    if (!r.ok) showNotice(`The server reports a problem (${r.status}).`);
  }).catch(() => showNotice(`Cannot reach the whale server at ${location.host}: is \`whale serve\` running?`));

  if (!store.current() && store.conversations.length) store.select(store.sorted()[0].id);
  render();
  autosize();
})();
