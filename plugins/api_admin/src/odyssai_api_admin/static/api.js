// The admin API as the dashboard uses it: the API key (asked once, kept in sessionStorage),
// JSON calls, and the live event stream. The stream is read with fetch (not EventSource) so
// the key travels in the Authorization header, never in a URL.

const KEY = "odyssai.apiKey";

export class AuthRequired extends Error {}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export const apiKey = () => sessionStorage.getItem(KEY);

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

function headers(extra = {}) {
  const h = { ...extra };
  const key = apiKey();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

function messageOf(body, response) {
  return (body && body.error && body.error.message) || `HTTP ${response.status}`;
}

/** Call the API; JSON in and out. 401 throws AuthRequired, other errors ApiError. */
export async function api(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (response.status === 401) throw new AuthRequired(messageOf(data, response));
  if (!response.ok) throw new ApiError(response.status, messageOf(data, response), data);
  return data;
}

/** Split SSE text into complete messages ({event, data, id, retry}) and the unfinished rest. */
export function parseSSE(text) {
  const blocks = text.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop();
  const messages = [];
  for (const block of blocks) {
    const m = { event: "message", data: "" };
    let any = false;
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "data") m.data += (m.data ? "\n" : "") + value;
      else if (field === "event") m.event = value;
      else if (field === "id") m.id = value;
      else if (field === "retry") m.retry = Number(value);
      any = true;
    }
    if (any) messages.push(m);
  }
  return { messages, rest };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Follow the event stream at `path` forever, reconnecting; `onEvent(type, data)` per event. */
export async function followEvents(path, onEvent, onState) {
  let delay = 2000;
  for (;;) {
    try {
      const response = await fetch(path, { headers: headers({ Accept: "text/event-stream" }) });
      if (response.status === 401) throw new AuthRequired("the event stream needs the API key");
      if (!response.ok) throw new ApiError(response.status, `events: HTTP ${response.status}`);
      onState("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const { messages, rest } = parseSSE(buffer + value);
        buffer = rest;
        for (const m of messages) {
          if (m.retry) delay = m.retry;
          if (m.data) onEvent(m.event, JSON.parse(m.data));
        }
      }
    } catch (e) {
      if (e instanceof AuthRequired) throw e;
      console.warn("event stream:", e);
    }
    onState("reconnecting");
    await sleep(delay);
  }
}
