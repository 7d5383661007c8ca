// An answer's text as safe DOM: Markdown (marked, GFM) with math (KaTeX: $…$, $$…$$, \(…\), \[…\]
// and a bare \boxed{…}), sanitised by DOMPurify, then [citation:X] turned into numbered links to
// the search results. Everything from the model or from web pages reaches the page as text nodes,
// KaTeX's markup (trust off) or markup DOMPurify has checked.
'use strict';
(() => {
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

  // KaTeX renders each formula once (the streamed answer is re-rendered every frame).
  const cache = new Map();
  function tex(source, displayMode) {
    const key = `${displayMode ? 'D' : 'I'}${source}`;
    let html = cache.get(key);
    if (html === undefined) {
      // throwOnError off: a formula KaTeX cannot parse shows as its source, in red, with the reason
      // as a tooltip. trust off (the default) refuses \href, \url and \includegraphics.
      try {
        html = katex.renderToString(source, { displayMode, throwOnError: false, strict: 'ignore',
                                              output: 'htmlAndMathml', maxExpand: 500, maxSize: 50 });
      } catch {  // not a parse error (those render as above): show the source rather than lose the answer
        const span = document.createElement('span');
        span.className = 'katex-error';
        span.textContent = source;
        html = span.outerHTML;
      }
      if (cache.size > 500) cache.clear();
      cache.set(key, html);
    }
    return html;
  }

  // The end of a brace group starting at src[open] ('{'), or -1: for a bare \boxed{…}.
  function closingBrace(src, open) {
    let depth = 0;
    for (let i = open; i < src.length; i++) {
      const c = src[i];
      if (c === '\\') i++;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) return i;
      else if (c === '\n' && src[i + 1] === '\n') return -1;
    }
    return -1;
  }

  // Tokenizers run before marked's own at each position, so `\(` is math, not an escaped '(', and
  // code spans and fenced blocks (matched at their backticks first) keep their dollars and
  // backslashes.
  const blockMath = {
    name: 'blockMath',
    level: 'block',
    start(src) {
      const m = /(?:^|\n) {0,3}(?:\$\$|\\\[)/.exec(src);
      return m ? m.index : undefined;
    },
    tokenizer(src) {
      const m = /^ {0,3}(?:\$\$((?:(?!\$\$)[^])+)\$\$|\\\[((?:(?!\\\])[^])+)\\\])[ \t]*(?:\n+|$)/.exec(src);
      if (m) return { type: 'blockMath', raw: m[0], text: (m[1] ?? m[2]).trim() };
      return undefined;
    },
    renderer(token) { return `<div class="math-display">${tex(token.text, true)}</div>\n`; },
  };
  const inlineMath = {
    name: 'inlineMath',
    level: 'inline',
    start(src) {
      const m = /\$|\\\(|\\\[|\\boxed\{/.exec(src);
      return m ? m.index : undefined;
    },
    tokenizer(src) {
      let m = /^\$\$([^]+?)\$\$/.exec(src) || /^\\\[([^]+?)\\\]/.exec(src);
      if (m && !m[1].includes('\n\n')) return { type: 'inlineMath', raw: m[0], text: m[1].trim(), display: true };
      m = /^\\\(([^]+?)\\\)/.exec(src);
      if (m && !m[1].includes('\n\n')) return { type: 'inlineMath', raw: m[0], text: m[1].trim(), display: false };
      // $…$ as Pandoc reads it, so prices stay text: the opening $ is followed by a non-space, the
      // closing one follows a non-space and is not followed by a digit ("$5 and $10" is no formula).
      m = /^\$(?!\s)((?:\\.|[^\\$\n]|\n(?!\n))+?)(?<!\s)\$(?!\d)/.exec(src);
      if (m) return { type: 'inlineMath', raw: m[0], text: m[1], display: false };
      if (src.startsWith('\\boxed{')) {
        const end = closingBrace(src, 6);
        if (end > 0) return { type: 'inlineMath', raw: src.slice(0, end + 1), text: src.slice(0, end + 1), display: false };
      }
      return undefined;
    },
    renderer(token) { return tex(token.text, token.display); },
  };
  const md = new marked.Marked({ gfm: true, breaks: false }, { extensions: [blockMath, inlineMath] });

  // KaTeX writes MathML beside its HTML; DOMPurify drops <semantics> and <annotation> (its copy of
  // the TeX source, which would otherwise be read out as text).
  const sanitize = (html) => DOMPurify.sanitize(html, { ADD_FORBID_CONTENTS: ['annotation'] });

  // http(s) links only: a search result's url comes from a web page or an index and may be anything.
  function safeUrl(url) {
    try {
      const u = new URL(String(url));
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch {
      return null;
    }
  }
  // "host/path" for a card, or the url as given when it is not a web address (a local file).
  function site(url) {
    const safe = safeUrl(url);
    if (!safe) return String(url ?? '');
    const u = new URL(safe);
    let path = u.pathname === '/' ? '' : u.pathname;
    try { path = decodeURI(path); } catch { /* not UTF-8 percent-encoding: shown encoded */ }
    return (u.host + path).slice(0, 80);
  }

  function sourceByIndex(sources, n) {
    return (sources || []).find((s) => Number(s?.index) === n) || null;
  }

  // [citation:X] (and [citation:X, Y]) outside code, links and formulas become superscript links
  // to result X; an X the results do not have stays as the model wrote it.
  function linkCitations(root, sources) {
    if (!sources?.length) return;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
      acceptNode: (n) => (n.parentElement.closest('pre, code, a, .katex, .math-display')
        ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
    });
    const texts = [];
    while (walker.nextNode()) if (walker.currentNode.nodeValue.includes('[citation:')) texts.push(walker.currentNode);
    const pattern = /\[citation:\s*(\d+(?:\s*[,，]\s*\d+)*)\s*\]/g;
    for (const node of texts) {
      const text = node.nodeValue;
      const parts = [];
      let last = 0;
      for (const m of text.matchAll(pattern)) {
        const numbers = m[1].split(/\s*[,，]\s*/).map(Number);
        if (!numbers.some((n) => sourceByIndex(sources, n))) continue;
        parts.push(document.createTextNode(text.slice(last, m.index)));
        for (const n of numbers) {
          const s = sourceByIndex(sources, n);
          if (!s) {
            parts.push(document.createTextNode(`[citation:${n}]`));
            continue;
          }
          const sup = document.createElement('sup');
          sup.className = 'cite';
          const a = document.createElement('a');
          a.textContent = String(n);
          a.dataset.cite = String(n);
          const href = safeUrl(s.url);
          if (href) {
            a.href = href;
            a.target = '_blank';
            a.rel = 'noopener noreferrer';
          } else {
            a.tabIndex = 0;
            a.setAttribute('role', 'button');
          }
          a.setAttribute('aria-label', `${window.whale.t('source', { n })}: ${String(s.title ?? '')}`);
          sup.append(a);
          parts.push(sup);
        }
        last = m.index + m[0].length;
      }
      if (!parts.length) continue;
      parts.push(document.createTextNode(text.slice(last)));
      node.replaceWith(...parts);
    }
  }

  // Renders `text` into `node`; `sources` are the answer's search results (for citations).
  function renderMarkdown(node, text, sources) {
    node.innerHTML = sanitize(md.parse(text));
    linkCitations(node, sources);
  }

  window.whale = window.whale || {};
  Object.assign(window.whale, { renderMarkdown, safeUrl, site, sourceByIndex });
})();
