// The chat API client: one streamed POST /v1/chat/completions per answer, parsed from SSE into
// search results, notices, reasoning and answer deltas; failures become messages a person can act on.
'use strict';
(() => {
  const { t } = window.whale;
  class ApiError extends Error {
    constructor(message, kind) {
      super(message);
      this.kind = kind;  // 'unreachable' | 'busy' | 'auth' | 'server'
    }
  }

  async function errorFrom(res) {
    let detail = '';
    try {
      detail = (await res.json())?.error?.message || '';
    } catch { /* not JSON: the status says enough */ }
    if (res.status === 429) return new ApiError(t('busy') + (detail ? ` (${detail})` : ''), 'busy');
    if (res.status === 401 || res.status === 403) return new ApiError(t('auth') + (detail ? ` (${detail})` : ''), 'auth');
    return new ApiError(t('serverAnswered', { status: res.status, detail: detail || res.statusText }), 'server');
  }

  // Whether the server can search (whale serve --search): GET /props says so in `web_search`. A
  // server that does not say (an older whale, another server) is taken to have it: a search
  // request it cannot serve then fails with its own message.
  function searchAvailable(props) {
    return typeof props?.web_search === 'boolean' ? props.web_search : true;
  }

  // Streams one answer. `on.reasoning(text)` and `on.content(text)` get the deltas as they come,
  // `on.sources(list)` the search results and `on.notices(list)` the server's notices (both come in
  // a chunk without choices before the first token); resolves with the finish reason; rejects with
  // ApiError, or an AbortError when `signal` aborts (the server sees the connection close and
  // cancels the request).
  async function streamChat({ messages, thinking, search, settings, signal, on }) {
    const body = {
      model: thinking ? 'deepseek-reasoner' : 'deepseek-chat',
      messages,
      stream: true,
      thinking: { type: thinking ? 'enabled' : 'disabled' },
    };
    if (search) body.web_search = true;
    const maxTokens = parseInt(settings.maxTokens, 10);
    if (maxTokens > 0) body.max_tokens = maxTokens;
    const budget = parseInt(settings.thinkingBudget, 10);
    if (thinking && budget >= 0) body.thinking_budget = budget;
    const headers = { 'Content-Type': 'application/json' };
    if (settings.apiKey) headers.Authorization = `Bearer ${settings.apiKey}`;

    let res;
    try {
      res = await fetch('v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(body), signal });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(t('unreachable', { host: location.host }), 'unreachable');
    }
    if (!res.ok) throw await errorFrom(res);

    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let finish = null;
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (e.name === 'AbortError' || signal.aborted) throw new DOMException('stopped', 'AbortError');
        throw new ApiError(t('brokeOff'), 'unreachable');
      }
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') return finish;
          const j = JSON.parse(data);
          if (j.error) throw new ApiError(t('serverStopped', { detail: j.error.message }), 'server');
          if (Array.isArray(j.search_results)) on.sources?.(j.search_results);
          if (Array.isArray(j.notices) && j.notices.length) on.notices?.(j.notices);
          const choice = j.choices?.[0];
          if (!choice) continue;
          const d = choice.delta || {};
          if (d.reasoning_content) on.reasoning(d.reasoning_content);
          if (d.content) on.content(d.content);
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      }
    }
    if (finish === null) throw new ApiError(t('brokeOff'), 'unreachable');
    return finish;
  }

  window.whale = window.whale || {};
  Object.assign(window.whale, { streamChat, searchAvailable, ApiError });
})();
