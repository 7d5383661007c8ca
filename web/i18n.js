// The page's words in English and Chinese: t(key, values) in the chosen language (Settings), or the
// browser's (navigator.language zh* → Chinese) when none is chosen. Shared through window.whale.
'use strict';
(() => {
  const en = {
    newChat: '＋ New chat', newChatTitle: 'New chat (Ctrl+Shift+O)', untitled: 'New chat',
    conversations: 'Conversations', conversationList: 'Conversation list',
    deleteConversation: 'Delete this conversation', deleteNamed: 'Delete {name}', conversation: 'conversation',
    settings: 'Settings', apiKey: 'API key', apiKeyHint: 'only if the server has one', maxTokens: 'Max tokens',
    serverDefault: 'server default', thinkingBudget: 'Thinking budget', noLimit: 'no limit',
    language: 'Language', languageAuto: 'Browser default',
    emptyTitle: 'How can I help?', emptyHint: 'Enter sends, Shift+Enter adds a line, Esc stops an answer.',
    placeholder: 'Message whale', message: 'Message',
    deepThink: 'DeepThink', deepThinkTitle: 'Think before answering (reasoning shown)',
    search: 'Search', searchTitle: 'Search the web (or the server\'s index) and answer from the pages found, citing them',
    searchUnavailable: 'This server has no search: start it with whale serve --search INDEX|URL',
    attach: 'Attach a file', attachTitle: 'Attach a text, Markdown, HTML or PDF file (the server reads it into the question)',
    removeFile: 'Remove {name}', fileTooBig: '{name} is {size} MB: files up to {max} MB can be attached.',
    fileType: '{name}: only .txt, .md, .html and .pdf files can be attached.',
    fileUnreadable: 'This browser could not read {name}.',
    send: 'Send', sendTitle: 'Send (Enter)', stop: 'Stop', stopTitle: 'Stop (Esc)',
    thinking: 'Thinking…', thoughtFor: 'Thought for {s} s',
    searched: 'Searched {n} pages', searchedOne: 'Searched 1 page', source: 'Source {n}',
    copy: 'Copy', copied: 'Copied', regenerate: 'Regenerate',
    stopped: 'Stopped.', cutOff: 'Cut off at the token limit.',
    saveFailed: 'This browser would not save the conversation (storage full or disabled).',
    saveFailedFiles: 'This browser had no room to keep the attached files: later questions in this conversation will not include them.',
    fileNotKept: 'not kept by this browser',
    serverProblem: 'The server reports a problem ({status}).',
    unreachableStart: 'Cannot reach the whale server at {host}: is `whale serve` running?',
    unreachable: 'Cannot reach the whale server at {host}: is `whale serve` still running?',
    busy: 'The server is busy: every request slot is taken. Try again in a moment.',
    auth: 'The server wants an API key (whale serve --api-key): enter it under Settings.',
    serverAnswered: 'The server answered {status}: {detail}',
    serverStopped: 'The server stopped this answer: {detail}',
    brokeOff: 'The connection to the server broke off mid-answer.',
  };
  const zh = {
    newChat: '＋ 开启新对话', newChatTitle: '开启新对话 (Ctrl+Shift+O)', untitled: '新对话',
    conversations: '对话', conversationList: '对话列表',
    deleteConversation: '删除此对话', deleteNamed: '删除 {name}', conversation: '对话',
    settings: '设置', apiKey: 'API 密钥', apiKeyHint: '仅当服务器设置了密钥时填写', maxTokens: '最大 token 数',
    serverDefault: '服务器默认', thinkingBudget: '思考预算', noLimit: '不限',
    language: '语言', languageAuto: '跟随浏览器',
    emptyTitle: '我可以帮你做什么？', emptyHint: 'Enter 发送，Shift+Enter 换行，Esc 停止回答。',
    placeholder: '给 whale 发送消息', message: '消息',
    deepThink: '深度思考', deepThinkTitle: '先思考再回答（显示推理过程）',
    search: '联网搜索', searchTitle: '搜索网页（或服务器的索引），依据搜到的网页回答并标注引用',
    searchUnavailable: '此服务器没有搜索功能：请用 whale serve --search INDEX|URL 启动',
    attach: '上传附件', attachTitle: '上传文本、Markdown、HTML 或 PDF 文件（服务器将其内容放入问题）',
    removeFile: '移除 {name}', fileTooBig: '{name} 有 {size} MB：只能上传不超过 {max} MB 的文件。',
    fileType: '{name}：只能上传 .txt、.md、.html 和 .pdf 文件。',
    fileUnreadable: '浏览器无法读取 {name}。',
    send: '发送', sendTitle: '发送 (Enter)', stop: '停止', stopTitle: '停止 (Esc)',
    thinking: '思考中…', thoughtFor: '已深度思考（用时 {s} 秒）',
    searched: '已搜索到 {n} 个网页', searchedOne: '已搜索到 1 个网页', source: '来源 {n}',
    copy: '复制', copied: '已复制', regenerate: '重新生成',
    stopped: '已停止。', cutOff: '已达到 token 上限，回答被截断。',
    saveFailed: '浏览器未能保存此对话（存储已满或被禁用）。',
    saveFailedFiles: '浏览器没有空间保存附件：此对话之后的提问将不再包含这些文件。',
    fileNotKept: '浏览器未保存',
    serverProblem: '服务器报告了问题（{status}）。',
    unreachableStart: '无法连接 {host} 上的 whale 服务器：`whale serve` 是否在运行？',
    unreachable: '无法连接 {host} 上的 whale 服务器：`whale serve` 是否仍在运行？',
    busy: '服务器繁忙：所有请求槽位都已占用，请稍后再试。',
    auth: '服务器需要 API 密钥（whale serve --api-key）：请在“设置”中填写。',
    serverAnswered: '服务器返回 {status}：{detail}',
    serverStopped: '服务器中止了此回答：{detail}',
    brokeOff: '与服务器的连接在回答中途断开。',
  };
  const dictionaries = { en, zh };

  let lang = 'en';
  // 'auto' (or nothing) follows the browser: any zh-* locale reads Chinese, everything else English.
  function setLanguage(choice) {
    lang = choice === 'zh' || choice === 'en' ? choice
      : (navigator.languages?.[0] || navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    return lang;
  }
  function t(key, values = {}) {
    const text = dictionaries[lang][key] ?? en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
  }
  // Static text in index.html: data-i18n (text), data-i18n-title, data-i18n-placeholder,
  // data-i18n-aria-label name keys.
  function translatePage(root = document) {
    for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
    for (const attr of ['title', 'placeholder', 'aria-label']) {
      for (const node of root.querySelectorAll(`[data-i18n-${attr}]`)) {
        node.setAttribute(attr, t(node.getAttribute(`data-i18n-${attr}`)));
      }
    }
  }

  setLanguage('auto');
  window.whale = window.whale || {};
  Object.assign(window.whale, { t, setLanguage, translatePage, language: () => lang });
})();
