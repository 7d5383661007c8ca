// Conversations and settings kept in the browser (localStorage): nothing about a chat lives on the
// server. Shared with api.js and app.js through window.whale.
'use strict';
(() => {
  const kConversations = 'whale.conversations';
  const kCurrent = 'whale.current';
  const kSettings = 'whale.settings';
  const defaults = { deepThink: true, webSearch: false, language: 'auto', apiKey: '', maxTokens: '', thinkingBudget: '' };

  function load(key, fallback) {
    try {
      const v = JSON.parse(localStorage.getItem(key));
      return v ?? fallback;
    } catch {
      return fallback;  // unreadable or from another version: start over rather than break the page
    }
  }
  function save(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch {
      return false;  // quota full or storage disabled: the chat still works for this tab
    }
  }

  const newId = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 8);

  class Store {
    constructor() {
      const list = load(kConversations, []);
      this.conversations = Array.isArray(list) ? list.filter((c) => c && c.id && Array.isArray(c.messages)) : [];
      this.currentId = load(kCurrent, null);
      this.settings = { ...defaults, ...load(kSettings, {}) };
      this.saveFailed = false;
    }
    current() { return this.conversations.find((c) => c.id === this.currentId) || null; }
    // Most recently updated first.
    sorted() { return [...this.conversations].sort((a, b) => b.updated - a.updated); }
    create() {
      const c = { id: newId(), title: '', created: Date.now(), updated: Date.now(), messages: [] };
      this.conversations.push(c);
      this.select(c.id);
      return c;
    }
    select(id) {
      this.currentId = id;
      save(kCurrent, id);
    }
    remove(id) {
      this.conversations = this.conversations.filter((c) => c.id !== id);
      if (this.currentId === id) this.select(this.sorted()[0]?.id ?? null);
      this.persist();
    }
    touch(c) {
      c.updated = Date.now();
      if (!c.title) {
        const first = c.messages.find((m) => m.role === 'user');
        if (first) c.title = (first.content || first.files?.[0]?.filename || '').replace(/\s+/g, ' ').trim().slice(0, 60);
      }
    }
    // Attached files ride in the conversation (later turns send them again) as data: URLs, which
    // can outgrow localStorage: then the conversations are kept without the files' contents
    // (saveFailed 'files'), or not at all (saveFailed true).
    persist() {
      this.saveFailed = false;
      if (save(kConversations, this.conversations)) return;
      const slim = this.conversations.map((c) => ({
        ...c,
        messages: c.messages.map((m) => (m.files ? { ...m, files: m.files.map(({ filename }) => ({ filename })) } : m)),
      }));
      this.saveFailed = save(kConversations, slim) ? 'files' : true;
    }
    setSetting(name, value) {
      this.settings[name] = value;
      save(kSettings, this.settings);
    }
  }

  window.whale = window.whale || {};
  window.whale.Store = Store;
})();
