// The dashboard's wiring: ask for the API key when the server wants one, show a card per
// cluster, keep the cards current from the live event stream, and run the actions.

import { api, ApiError, AuthRequired, followEvents, setApiKey } from "./api.js";
import { createCard, h, notice, renderCard, renderModels, renderReboot, renderTopology } from "./cards.js";

const clusters = new Map(); // name -> {name, status, card, topology, seq}
const byId = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const path = (name, what = "") => `/admin/${encodeURIComponent(name)}${what}`;
const RATE_SILENCE_MS = 2500;
let lastSeq = 0;
let keyPrompt = null;

// -- the API key ---------------------------------------------------------------------------
function askKey(reason) {
  if (keyPrompt) return keyPrompt;
  const dialog = byId("key-dialog");
  const input = byId("api-key");
  byId("key-error").textContent = reason && !/required/.test(reason) ? reason : "";
  keyPrompt = new Promise((resolve) => {
    const submit = async (e) => {
      e.preventDefault();
      setApiKey(input.value.trim());
      try {
        await api("GET", "/admin/clusters");
      } catch (err) {
        setApiKey(null);
        byId("key-error").textContent = err instanceof AuthRequired ? "that key was refused" : err.message;
        return;
      }
      byId("key-form").removeEventListener("submit", submit);
      dialog.close();
      byId("forget-key").hidden = false;
      keyPrompt = null;
      resolve();
    };
    byId("key-form").addEventListener("submit", submit);
  });
  dialog.addEventListener("cancel", (e) => e.preventDefault());
  dialog.showModal();
  input.focus();
  return keyPrompt;
}

/** `call()` once more after the key was asked for, when it needed one. */
async function withKey(call) {
  try {
    return await call();
  } catch (e) {
    if (!(e instanceof AuthRequired)) throw e;
    await askKey(e.message);
    return call();
  }
}

// -- cards ---------------------------------------------------------------------------------
function showClusters(list) {
  byId("empty").hidden = list.length > 0;
  byId("empty").textContent = "No clusters in topology.yaml.";
  for (const status of list) {
    let c = clusters.get(status.cluster);
    if (!c) {
      c = { name: status.cluster, status, seq: {}, card: createCard(status.cluster, actions) };
      clusters.set(c.name, c);
      byId("clusters").append(c.card);
      loadTopology(c);
      actions.listModels(c.name);
    }
    c.status = status;
    render(c);
  }
}

function render(c) {
  renderCard(c.card, c.status);
  if (c.topology) renderTopology(c.card, c.topology, c.status);
}

async function loadTopology(c) {
  try {
    c.topology = await withKey(() => api("GET", path(c.name, "/topology")));
    render(c);
  } catch (e) {
    notice(c.card, `topology: ${e.message}`, true);
  }
}

/** Re-read a cluster's status; rank phases that events changed meanwhile are kept. */
async function refresh(c) {
  const started = lastSeq;
  let status;
  try {
    status = await withKey(() => api("GET", path(c.name)));
  } catch (e) {
    notice(c.card, e.message, true);
    return;
  }
  if ((c.seq.ranks || 0) > started) status.ranks = c.status.ranks;
  if ((c.seq.phase || 0) > started) status.phase = c.status.phase;
  c.status = status;
  render(c);
}

// -- events --------------------------------------------------------------------------------
function logEvent(type, data) {
  if (type === "hello") return;
  const what = { rank_phase: `rank ${data.rank} ${data.phase}`, cluster_phase: data.phase,
                 load_progress: `rank ${data.rank} ${data.done}/${data.total}`,
                 token_rate: `${Number(data.tps || 0).toFixed(1)} tokens/s`, log: `rank ${data.rank}: ${data.line}`,
                 error: data.message, request_done: `${data.completion_tokens} tokens, ${data.finish_reason}`,
                 plan: (data.plan || {}).summary, reboot: `${data.phase} ${data.node || ""}` }[type] || "";
  const log = byId("event-log");
  log.prepend(h("li", { class: `event event-${type}` }, h("b", {}, `${data.cluster || ""} ${type}`), ` ${what}`));
  while (log.children.length > 100) log.lastChild.remove();
}

function onEvent(type, data) {
  if (data.seq) lastSeq = data.seq;
  logEvent(type, data);
  if (type === "hello") return showClusters(data.clusters);
  const c = clusters.get(data.cluster);
  if (!c) return;
  const st = c.status;
  const rank = st.ranks[data.rank];
  switch (type) {
    case "cluster_phase":
      if (data.phase === "loading") {
        st.error = null;
        st.sharding = null;
        st.ranks.forEach((r) => Object.assign(r, { phase: "stopped", history: [], progress: {}, error: null }));
      }
      if (["idle", "unloaded"].includes(data.phase)) renderReboot(c.card, null);
      settlePending(c, data.phase);
      st.phase = data.phase;
      st.model = data.model;
      c.seq.phase = data.seq;
      refresh(c);
      break;
    case "rank_phase":
      if (rank) Object.assign(rank, { phase: data.phase, history: [...(rank.history || []), data.phase] });
      c.seq.ranks = data.seq;
      break;
    case "load_progress":
      if (rank) rank.progress = { done: data.done, total: data.total, what: data.what };
      c.seq.ranks = data.seq;
      break;
    case "plan":
      st.sharding = data.plan;
      break;
    case "token_rate":
      st.generation_tps = data.tps;
      st.requests = { ...st.requests, in_flight: data.active, queued: data.waiting,
                      open: Math.max((st.requests || {}).open || 0, data.active + data.waiting) };
      // Stats come about once a second while anything runs; silence means the batch emptied
      // (a cancelled request ends without request_done), so read the status again then.
      clearTimeout(c.rateTimer);
      c.rateTimer = setTimeout(() => refresh(c), RATE_SILENCE_MS);
      break;
    case "error":
      st.error = data.error;
      refresh(c);
      break;
    case "request_done":
      refresh(c);
      return;
    case "reboot":
      renderReboot(c.card, data);
      if (["started", "failed"].includes(data.phase)) refresh(c);
      return;
    default:
      return;
  }
  render(c);
}

function onStreamState(state) {
  const live = byId("live");
  live.textContent = state === "live" ? "live" : "reconnecting…";
  live.className = `live ${state === "live" ? "on" : "off"}`;
}

async function follow() {
  for (;;) {
    try {
      await followEvents("/admin/events", onEvent, onStreamState);
    } catch (e) {
      if (e instanceof AuthRequired) await askKey(e.message);
      else await sleep(2000);
    }
  }
}

// -- actions -------------------------------------------------------------------------------
/**
 * A load or unload asked from this page: its "…: requested" notice is replaced when the cluster
 * gets there. `via` is a phase the cluster must pass first (a reload stops the old ranks, whose
 * "unloaded" is not the end of the load); `ends` maps each final phase to its notice.
 */
function awaitPhase(c, via, ends) {
  c.pending = { via, seen: !via, ends };
}

function settlePending(c, phase) {
  const p = c.pending;
  if (!p) return;
  if (phase === p.via) p.seen = true;
  else if (p.seen && p.ends[phase]) {
    c.pending = null;
    notice(c.card, p.ends[phase], phase === "failed");
  }
}

function confirmReboot(status) {
  const dialog = byId("confirm-dialog");
  const nodes = status.ranks.map((r) => r.node).join(", ");
  byId("confirm-title").textContent = `Reboot all nodes of ${status.cluster}?`;
  byId("confirm-text").textContent = `Every node of cluster ${status.cluster} (${nodes}) restarts. `
    + "Its runners stop and requests in flight are cut off; the model loads again when the nodes are back.";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    byId("confirm-no").focus();
  });
}

async function act(name, doing, call) {
  const c = clusters.get(name);
  const pending = c.pending;
  notice(c.card, `${doing}…`);
  try {
    const result = await withKey(call);
    if (!pending || c.pending === pending) notice(c.card, `${doing}: requested`); // unless it already ended
    return result;
  } catch (e) {
    if (c.pending === pending) c.pending = null;
    const missing = e instanceof ApiError && e.status === 404 && /no route/.test(e.message);
    notice(c.card, missing ? `${doing}: this server has no such endpoint (${e.message})` : `${doing}: ${e.message}`, true);
    return null;
  }
}

const actions = {
  async listModels(name) {
    const c = clusters.get(name);
    try {
      renderModels(c.card, await withKey(() => api("GET", path(name, "/models"))), c.status);
    } catch (e) {
      notice(c.card, `listing models: ${e.message}`, true);
    }
  },
  load(name) {
    const card = clusters.get(name).card;
    const model = card.q("model-select").value;
    const sharding = card.q("sharding-select").value;
    if (!model) return notice(card, "choose a model first", true);
    const c = clusters.get(name);
    // set before the call: the first events can come before its answer
    awaitPhase(c, "loading", { idle: `loaded ${model}`, failed: `loading ${model} failed: see the error above`,
                               unloaded: `loading ${model} was stopped` });
    return act(name, `loading ${model}`, () => api("POST", path(name, "/load"), sharding ? { model, sharding } : { model }));
  },
  async unload(name) {
    const c = clusters.get(name);
    awaitPhase(c, null, { unloaded: "unloaded", failed: "unloading failed: see the error above" });
    const status = await act(name, "unloading", () => api("POST", path(name, "/unload")));
    if (status && status.phase === "unloaded") settlePending(c, "unloaded"); // already unloaded: no event comes
    return status;
  },
  async reboot(name) {
    const c = clusters.get(name);
    if (!(await confirmReboot(c.status))) return notice(c.card, "reboot cancelled");
    const report = await act(name, "rebooting all nodes", () => api("POST", path(name, "/reboot"), {}));
    const r = report && report.reboot;
    if (r) notice(c.card, r.ok ? `reboot done in ${r.total_s}s` : `reboot failed: ${(r.problems || []).join("; ")}`, !r.ok);
    return report;
  },
};

// -- start ---------------------------------------------------------------------------------
async function start() {
  byId("forget-key").addEventListener("click", () => { setApiKey(null); location.reload(); });
  byId("forget-key").hidden = !sessionStorage.getItem("odyssai.apiKey");
  for (;;) {
    try {
      showClusters((await withKey(() => api("GET", "/admin/clusters"))).clusters);
      break;
    } catch (e) {
      byId("empty").textContent = `The server did not answer: ${e.message}`;
      await sleep(3000);
    }
  }
  follow();
}

start();
