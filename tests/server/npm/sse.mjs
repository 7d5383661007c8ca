// Server-sent events of an OpenAI-style stream: yields each `data:` chunk's parsed JSON, stops at
// `data: [DONE]`. Returning early from the loop cancels the response body (a client hanging up).
export async function* sseChunks(res) {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const part of res.body) {
    buf += decoder.decode(part, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, end);
      buf = buf.slice(end + 2);
      if (ev === 'data: [DONE]') return;
      if (ev.startsWith('data: ')) yield JSON.parse(ev.slice(6));
    }
  }
}
