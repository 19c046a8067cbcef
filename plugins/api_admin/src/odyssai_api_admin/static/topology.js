// The topology view: nodes and Thunderbolt cables as SVG, drawn from the layout the server
// computes (GET /admin/{cluster}/topology). One-sided and missing cables stand out.

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function cableTitle(link) {
  const ends = Object.entries(link.devices).map(([n, d]) => `${n}: ${d || "not listed"}`).join(", ");
  return `${link.a} ⟷ ${link.b} — ${link.state} (${ends})`;
}

/** An <svg> of `view.layout`; `phases` maps node name to its rank's phase (for colour). */
export function topologySVG(view, phases = {}) {
  const { width, height, nodes, links } = view.layout;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "topology-svg", role: "img",
                          "aria-label": `topology of ${view.cluster}` });
  for (const link of links) {
    const g = el("g", { class: `cable cable-${link.state}`, "data-a": link.a, "data-b": link.b,
                        "data-state": link.state });
    g.append(el("title", {}, cableTitle(link)));
    g.append(el("line", { x1: link.x1, y1: link.y1, x2: link.x2, y2: link.y2 }));
    if (link.state !== "ok") {
      g.append(el("text", { x: link.label_x, y: link.label_y - 4, "text-anchor": "middle",
                            class: "cable-label" }, link.state));
    }
    svg.append(g);
  }
  for (const n of nodes) {
    const phase = phases[n.name] || "stopped";
    const g = el("g", { class: `node phase-${phase}`, "data-node": n.name });
    g.append(el("title", {}, `rank ${n.rank}: ${n.name} (${phase})`));
    g.append(el("circle", { cx: n.x, cy: n.y, r: 26 }));
    g.append(el("text", { x: n.x, y: n.y - 2, "text-anchor": "middle", class: "node-name" }, n.name));
    g.append(el("text", { x: n.x, y: n.y + 12, "text-anchor": "middle", class: "node-rank" }, `rank ${n.rank}`));
    svg.append(g);
  }
  return svg;
}

/** The caption under the drawing: what the mesh check found. */
export function topologyCaption(view) {
  if (!view.mesh.checked) return `${view.backend} over Ethernet: no Thunderbolt mesh in use`;
  if (view.mesh.ok) return `Thunderbolt mesh ok: ${view.mesh.edges} of ${view.mesh.expected_edges} cable ends`;
  return `Thunderbolt mesh has problems: ${view.mesh.edges} of ${view.mesh.expected_edges} cable ends`;
}
