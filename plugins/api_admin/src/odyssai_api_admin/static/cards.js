// A card per cluster: its facts, meters, ranks, last error, topology and actions. `createCard`
// builds the parts that keep their state (selects, buttons); `renderCard` refreshes the rest
// from the cluster's status, as events change it.

import { topologyCaption, topologySVG } from "./topology.js";

/** h("p", {class: "x"}, "text", child…): an element; text is always set as text, never HTML. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** (in flight, queued) from the orchestrator's open requests (the runner's Stats lag). */
export function requestCounts(status) {
  const req = status.requests || {};
  const open = req.open || 0;
  const queued = Math.min(req.queued || 0, open);
  return [open - queued, queued];
}

/** The cluster's phase as users see it: an idle cluster with open requests is generating. */
export function shownPhase(status) {
  const [inFlight, queued] = requestCounts(status);
  return status.phase === "idle" && inFlight + queued > 0 ? "generating" : status.phase;
}

export function liveTps(status) {
  return requestCounts(status)[0] > 0 ? status.generation_tps || 0 : 0;
}

function progressText(p) {
  if (!p || !p.total) return "";
  return `${p.done}/${p.total} ${p.what || ""}`.trim();
}

function layersOf(status, rank) {
  const r = ((status.sharding || {}).ranks || [])[rank] || {};
  return r.layers ? `${r.layers[0]}–${r.layers[1] - 1}` : "";
}

export function canReboot(status) {
  const err = status.error || {};
  return status.backend === "jaccl" || status.phase === "failed" || err.action === "reboot"
    || status.ranks.some((r) => ((r.error || {}).failure || {}).action === "reboot");
}

export function createCard(name, actions) {
  const q = (cls) => card.querySelector(`.${cls}`);
  const card = h("section", { class: "card", "data-cluster": name },
    h("header", {}, h("h2", {}, name), h("span", { class: "phase" })),
    h("dl", { class: "facts" },
      h("dt", {}, "Backend"), h("dd", { class: "backend" }),
      h("dt", {}, "Model"), h("dd", { class: "model" }),
      h("dt", {}, "Sharding"), h("dd", { class: "plan" })),
    h("div", { class: "meters" },
      meter("tps", "tokens/s"), meter("in-flight", "in flight"), meter("queued", "queued"),
      meter("served", "requests")),
    h("div", { class: "error-box", role: "alert", hidden: true },
      h("strong", {}, "Last error"), h("p", { class: "error-message" }), h("p", { class: "remedy" })),
    h("ul", { class: "warnings", hidden: true }),
    h("p", { class: "reboot-progress", hidden: true }),
    h("table", { class: "ranks" },
      h("thead", {}, h("tr", {}, ...["rank", "node", "phase", "layers", "progress", "history", "error"]
        .map((c) => h("th", {}, c)))),
      h("tbody")),
    h("figure", { class: "topology" }, h("div", { class: "topology-drawing" }),
      h("div", {}, h("figcaption", {}), h("ul", { class: "mesh-problems" }))),
    h("form", { class: "actions", onsubmit: (e) => e.preventDefault() },
      h("label", {}, "Model ", h("select", { class: "model-select", "aria-label": "model" },
        h("option", { value: "" }, "listing models…"))),
      h("button", { type: "button", class: "list-models", title: "list the models again",
                    onclick: () => actions.listModels(name) }, "↻"),
      h("label", { title: "how the next load splits the model (auto: the best plan for the model)" },
        "Sharding ", h("select", { class: "sharding-select", "aria-label": "sharding of the next load" },
          h("option", { value: "" }, "auto"))),
      h("small", { class: "sharding-now", hidden: true }),
      h("button", { type: "button", class: "load", onclick: () => actions.load(name) }, "Load"),
      h("button", { type: "button", class: "unload", onclick: () => actions.unload(name) }, "Unload"),
      h("button", { type: "button", class: "reboot danger", hidden: true,
                    onclick: () => actions.reboot(name) }, "Reboot all"),
      h("output", { class: "notice" })));
  card.q = q;
  return card;
}

function meter(cls, label) {
  return h("div", { class: "meter" }, h("span", { class: cls }, "0"), h("small", {}, label));
}

export function renderCard(card, status) {
  const q = card.q;
  const phase = q("phase");
  phase.textContent = shownPhase(status);
  phase.className = `phase phase-${shownPhase(status)}`;
  q("backend").textContent = status.backend;
  q("model").textContent = status.model || "—";
  const plan = status.sharding;
  q("plan").textContent = plan ? `${plan.strategy} · ${plan.summary || `${plan.n_ranks} ranks`}` : "—";
  // the dropdown is for the next load; next to it, what the cluster runs now
  const inUse = plan && status.phase === "idle" ? plan.strategy : null;
  q("sharding-now").hidden = !inUse;
  q("sharding-now").textContent = inUse ? `in use: ${inUse}` : "";
  const [inFlight, queued] = requestCounts(status);
  q("tps").textContent = liveTps(status).toFixed(1);
  q("in-flight").textContent = String(inFlight);
  q("queued").textContent = String(queued);
  q("served").textContent = String((status.counters || {}).requests || 0);
  renderError(card, status);
  const warnings = status.warnings || [];
  q("warnings").hidden = !warnings.length;
  q("warnings").replaceChildren(...warnings.map((w) => h("li", {}, w)));
  renderRanks(card, status);
  q("reboot").hidden = !canReboot(status);
  q("load").disabled = ["loading", "stopping", "rebooting"].includes(status.phase);
}

function renderError(card, status) {
  const box = card.q("error-box");
  const err = status.error;
  box.hidden = !err;
  if (!err) return;
  card.q("error-message").textContent = err.message || JSON.stringify(err);
  const remedy = err.remedy ? `What to do: ${err.remedy}` : "";
  card.q("remedy").textContent = remedy + (err.action ? ` (suggested action: ${err.action})` : "");
}

function renderRanks(card, status) {
  const body = card.querySelector(".ranks tbody");
  const rows = status.ranks.map((r) => {
    const p = r.progress || {};
    const bar = p.total ? h("progress", { max: p.total, value: p.done }) : null;
    return h("tr", { "data-rank": r.rank },
      h("td", {}, String(r.rank)), h("td", {}, r.node),
      h("td", { class: `rank-phase phase-${r.phase}` }, r.phase),
      h("td", { class: "layers" }, layersOf(status, r.rank)),
      h("td", { class: "progress" }, bar, h("span", {}, progressText(p))),
      h("td", { class: "history" }, (r.history || []).join(" → ")),
      h("td", { class: "rank-error" }, (r.error || {}).message || ""));
  });
  // update phase cells in place when the rows are the same ranks, so observers see each change
  if (body.rows.length === rows.length) {
    rows.forEach((row, i) => {
      const old = body.rows[i];
      const fresh = [...row.cells];
      const stale = [...old.cells];
      fresh.forEach((cell, c) => {
        if (stale[c].textContent !== cell.textContent || c === 4) old.replaceChild(cell, stale[c]);
        else stale[c].className = cell.className;
      });
    });
  } else {
    body.replaceChildren(...rows);
  }
}

export function renderTopology(card, view, status) {
  const phases = Object.fromEntries((status ? status.ranks : []).map((r) => [r.node, r.phase]));
  card.q("topology-drawing").replaceChildren(topologySVG(view, phases));
  card.querySelector(".topology figcaption").textContent = topologyCaption(view);
  card.q("mesh-problems").replaceChildren(...view.mesh.problems.map((p) => h("li", {}, p)));
  card.q("topology").classList.toggle("has-problems", !view.mesh.ok);
}

export function renderModels(card, listing, status) {
  const select = card.q("model-select");
  const keep = select.value || (status && status.model) || "";
  const options = listing.models.map((m) => h("option", { value: m }, m));
  if (!options.length) options.push(h("option", { value: "" }, "no model on every node"));
  select.replaceChildren(...options);
  if (listing.models.includes(keep)) select.value = keep;
  const sharding = card.q("sharding-select");
  const chosen = sharding.value;
  sharding.replaceChildren(h("option", { value: "" }, "auto"),
    ...listing.strategies.map((s) => h("option", { value: s }, s)));
  sharding.value = listing.strategies.includes(chosen) ? chosen : "";
  const missing = listing.nodes.filter((n) => n.error).map((n) => n.error);
  if (missing.length) notice(card, missing.join("; "), true);
}

/** One line on a reboot in progress, from the cluster's `reboot` events. */
export function renderReboot(card, event) {
  const line = card.q("reboot-progress");
  line.hidden = !event;
  if (!event) return;
  const who = event.node ? ` ${event.node}` : event.nodes ? ` ${event.nodes.join(", ")}` : "";
  line.textContent = `reboot: ${event.phase}${who}${event.error ? ` — ${event.error}` : ""}`;
}

export function notice(card, text, bad = false) {
  const out = card.q("notice");
  out.textContent = text;
  out.classList.toggle("bad", bad);
}
