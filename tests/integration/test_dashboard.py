"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright).

On a 2-node testbed cluster: Load shows the ranks go loading -> idle, tokens/s rises while a
request streams, an injected failure shows its error and remedy and the Reboot all button,
whose confirmation dialog sends the reboot (and the reboot flow runs). Without a testbed: with
an API key the page asks for it once and sends it with every admin call; the topology view
highlights one-sided and missing cables. Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from odyssai.topology import Cluster, Node, save_clusters
from support.nodes import wait_no_runners
from support.server import Server
from support.tinymodels import build_llama

pytestmark = [pytest.mark.slow]
on_testbed = pytest.mark.testbed
MODEL = "tiny-llama"
KEY = "dashboard-test-key"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SLOW = 120_000  # ms: loads, reboots


# -- the browser ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A Chromium context with a new, empty profile; closed after the module."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                       headless=True, viewport={"width": 1280, "height": 1000})
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def save_failure_screenshot(tab: Page, test_name: str) -> Path | None:
    """``artifacts/screenshots/FAILED-<test>.png``: the page as it was when the test failed."""
    safe = re.sub(r"[^\w.-]+", "_", test_name)
    path = SHOTS / f"FAILED-{safe}.png"
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(path), full_page=True, timeout=15_000)
    except Exception as e:  # a dead page must not hide the test's own failure
        print(f"no failure screenshot of {test_name}: {e}")
        return None
    return path


@pytest.fixture
def page(browser, request) -> Iterator[Page]:
    """A fresh tab; page errors fail the test; a failed test leaves a screenshot of the tab."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    failed_before = request.session.testsfailed  # the call's report is counted before teardown
    try:
        yield tab
    finally:
        if request.session.testsfailed > failed_before:
            save_failure_screenshot(tab, request.node.name)
        tab.close()
    assert not errors, errors


def card(page: Page, cluster: str):
    return page.locator(f'section.card[data-cluster="{cluster}"]')


def watch_rank_phases(page: Page) -> None:
    """Record each text a rank's phase cell takes, and each progress bar its row shows (every
    change, even between two paints)."""
    page.evaluate("""() => {
      window.phaseLog = {};
      window.progressLog = {};
      const note = (rank, td) => (window.phaseLog[rank] ||= []).push(td.textContent);
      const bar = (rank, td) => {
        const p = td.querySelector("progress");
        if (p) (window.progressLog[rank] ||= []).push([p.value, p.max]);
      };
      new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes) {
          if (!n.matches) continue;
          if (n.matches("td.rank-phase")) note(r.target.dataset.rank, n);
          else if (n.matches("td.progress")) bar(r.target.dataset.rank, n);
          else if (n.matches("tr")) {
            note(n.dataset.rank, n.querySelector("td.rank-phase"));
            bar(n.dataset.rank, n.querySelector("td.progress"));
          }
        }
      }).observe(document.querySelector("#clusters"), {childList: true, subtree: true});
    }""")


def phase_log(page: Page) -> dict[str, list[str]]:
    """Each rank's recorded phases, repeats folded."""
    log = page.evaluate("window.phaseLog")
    return {rank: [p for i, p in enumerate(ps) if i == 0 or ps[i - 1] != p] for rank, ps in log.items()}


# -- a testbed cluster ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def testbed2(module_testbed_factory):
    tb = module_testbed_factory(2)
    for node in tb.node_names:  # long enough a context that a streamed request lasts for seconds
        build_llama(tb.node_dir(node) / "models", MODEL, max_position_embeddings=8192)
    return tb


@pytest.fixture(scope="module")
def server(testbed2, tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("dashboard")
    # a testbed node is back after 3 s, about as long as the page's rebooting state is watched
    save_clusters(home / "topology.yaml", {"two": testbed2.cluster(reboot_delay=3.0)})
    srv = Server(home)
    try:
        yield srv
    finally:
        srv.stop()
        assert wait_no_runners(testbed2) == {}


def open_dashboard(page: Page, srv: Server):
    page.goto(srv.url + "/")
    two = card(page, "two")
    expect(two.locator('.model-select option[value="tiny-llama"]')).to_be_attached(timeout=30_000)
    expect(page.locator("#live")).to_have_text("live")
    return two


@on_testbed
def test_clicking_load_shows_each_rank_go_loading_then_idle_with_its_layers(page, server):
    two = open_dashboard(page, server)
    expect(two.locator(".phase")).to_have_text("unloaded")
    two.locator(".model-select").select_option(MODEL)
    two.locator(".sharding-select").select_option("pipeline")
    watch_rank_phases(page)
    two.locator("button.load").click()
    expect(two.locator(".phase")).to_have_text("idle", timeout=SLOW)
    expect(two.locator("td.rank-phase")).to_have_text(["idle", "idle"])
    for rank, phases in phase_log(page).items():
        assert phases[-1] == "idle" and "loading" in phases, (rank, phases)
        assert phases.index("starting") < phases.index("loading"), (rank, phases)
    assert sorted(phase_log(page)) == ["0", "1"]
    # each rank's row showed a progress bar while its layers loaded, ending full
    bars = page.evaluate("window.progressLog")
    assert sorted(bars) == ["0", "1"], bars
    for rank, seen in bars.items():
        assert any(done < total for done, total in seen) and seen[-1][0] == seen[-1][1] > 0, (rank, seen)
    expect(two.locator("td.progress progress")).to_have_count(2)
    expect(two.locator(".notice")).to_have_text(f"loaded {MODEL}")  # not "…: requested" any more
    expect(two.locator(".sharding-now")).to_have_text("in use: pipeline")
    plan = server.status("two")["sharding"]["ranks"]  # (pipeline puts the last layers on rank 0)
    expect(two.locator("td.layers")).to_have_text([f"{r['layers'][0]}–{r['layers'][1] - 1}" for r in plan])
    assert sorted(r["layers"] for r in plan) == [[0, 1], [1, 2]]
    expect(two.locator(".plan")).to_contain_text("pipeline")
    expect(two.locator("td.history").first).to_have_text("starting → loading → idle")
    expect(two.locator(".model")).to_have_text(MODEL)
    page.screenshot(path=str(SHOTS / "dashboard-loaded.png"), full_page=True)


@on_testbed
def test_clicking_unload_stops_every_rank(page, server):
    if server.status("two")["phase"] != "idle":
        assert server.http.post("/admin/two/load", params={"wait": "true"}, json={"model": MODEL}).status_code == 200
    two = open_dashboard(page, server)
    expect(two.locator(".sharding-select")).to_have_value("")  # "auto": the dropdown is for the next load…
    expect(two.locator(".sharding-now")).to_have_text(re.compile(r"^in use: (tensor|pipeline)$"))  # …this is now
    two.locator("button.unload").click()
    expect(two.locator(".phase")).to_have_text("unloaded", timeout=SLOW)
    expect(two.locator("td.rank-phase")).to_have_text(["stopped", "stopped"])
    expect(two.locator(".model")).to_have_text("—")
    expect(two.locator(".notice")).to_have_text("unloaded")
    expect(two.locator(".sharding-now")).to_be_hidden()
    assert server.status("two")["phase"] == "unloaded"


@on_testbed
def test_tokens_per_second_rise_while_a_request_streams_and_fall_back_after(page, server):
    if server.status("two")["phase"] != "idle":
        assert server.http.post("/admin/two/load", params={"wait": "true"}, json={"model": MODEL}).status_code == 200
    two = open_dashboard(page, server)
    expect(two.locator(".tps")).to_have_text("0.0")
    stop = threading.Event()
    chunks = []

    def stream() -> None:
        body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 6000, "stream": True}
        with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=120) as r:
            for line in r.iter_lines():
                chunks.append(line)
                if stop.is_set():
                    return  # closing the stream cancels the request

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    try:
        page.wait_for_function("""() => Number(document.querySelector('[data-cluster="two"] .tps').textContent) > 0""",
                               timeout=60_000)
        expect(two.locator(".in-flight")).to_have_text("1")
        expect(two.locator(".phase")).to_have_text("generating")
        page.screenshot(path=str(SHOTS / "dashboard-generating.png"), full_page=True)
    finally:
        stop.set()
        t.join(60)
    assert chunks
    expect(two.locator(".tps")).to_have_text("0.0", timeout=30_000)
    expect(two.locator(".in-flight")).to_have_text("0")
    expect(two.locator(".phase")).to_have_text("idle")


@on_testbed
def test_an_injected_failure_shows_the_error_and_reboot_all_which_asks_then_reboots(page, server):
    two = open_dashboard(page, server)
    reboot = two.locator("button.reboot")
    fault = {"rank": 1, "load_error": "RuntimeError: [ring] connection refused (errno 111)"}
    r = server.http.post("/admin/two/load", json={"model": MODEL, "fault_injection": fault})
    assert r.status_code == 202, r.text
    expect(two.locator(".phase")).to_have_text("failed", timeout=SLOW)
    expect(two.locator(".error-box")).to_be_visible()
    expect(two.locator(".sharding-now")).to_be_hidden()
    expect(two.locator(".error-message")).to_contain_text("refused the ring connection")
    expect(two.locator(".remedy")).to_contain_text("What to do: check that every node can reach")
    expect(two.locator("tr[data-rank='1'] .rank-phase")).to_have_text("failed")
    expect(reboot).to_be_visible()
    page.screenshot(path=str(SHOTS / "dashboard-failed.png"), full_page=True)

    sent = []
    page.on("request", lambda req: sent.append(req) if req.url.endswith("/reboot") else None)
    dialog = page.locator("#confirm-dialog")
    reboot.click()
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-text")).to_contain_text("(node1, node2)")
    page.screenshot(path=str(SHOTS / "dashboard-confirm-reboot.png"))
    page.locator("#confirm-no").click()
    expect(dialog).to_be_hidden()
    expect(two.locator(".notice")).to_have_text("reboot cancelled")
    assert sent == [] and server.status("two")["phase"] == "failed"

    reboot.click()
    with page.expect_request(lambda req: req.url.endswith("/admin/two/reboot")) as request:
        page.locator("#confirm-yes").click()
    assert request.value.method == "POST" and json.loads(request.value.post_data) == {}
    expect(two.locator(".phase")).to_have_text("rebooting", timeout=30_000)
    expect(two.locator(".reboot-progress")).to_contain_text("reboot:")
    expect(two.locator(".notice")).to_contain_text("reboot done", timeout=SLOW)
    expect(two.locator(".phase")).to_have_text("idle")  # the reboot reloads what was asked for
    expect(two.locator(".error-box")).to_be_hidden()
    assert len(sent) == 1
    report = server.status("two")["reboot"]
    assert report["ok"] and [n["node"] for n in report["nodes"]] == ["node1", "node2"]


# -- an API key, and the topology view (no testbed needed) -------------------------------------------
@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> Iterator[Server]:
    """A server with an API key; a local cluster with a model, and a jaccl cluster with bad cables."""
    home = tmp_path_factory.mktemp("keyed")
    for n in ("n1", "n2"):
        (home / n / MODEL).mkdir(parents=True)
        (home / n / MODEL / "config.json").write_text(json.dumps({"model_type": "llama"}))
    local = [Node(name=n, host="localhost", spawner="local", models_dir=str(home / n)) for n in ("n1", "n2")]
    refused = [Node(name=f"m{i}", host="127.0.0.1", port=1) for i in (1, 2, 3)]  # SSH is refused at once
    save_clusters(home / "topology.yaml", {
        "here": Cluster(nodes=local),
        "lab": Cluster(backend="jaccl", nodes=refused,
                       rdma_to={"m1": {"m2": "rdma_en3", "m3": "rdma_en4"}, "m2": {"m1": "rdma_en3"}, "m3": {}}),
    })
    srv = Server(home, api_key=KEY)
    try:
        yield srv
    finally:
        srv.stop()


def test_the_page_asks_for_the_api_key_once_and_sends_it_with_every_admin_call(page, keyed):
    admin_calls = []
    page.on("request", lambda r: admin_calls.append(r) if "/admin/" in r.url else None)
    page.goto(keyed.url + "/")
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    page.fill("#api-key", "not-the-key")
    page.click("#key-submit")
    expect(page.locator("#key-error")).to_have_text("that key was refused")
    expect(dialog).to_be_visible()
    page.fill("#api-key", KEY)
    page.click("#key-submit")
    expect(dialog).to_be_hidden()
    expect(card(page, "here").locator('.model-select option[value="tiny-llama"]')).to_be_attached()
    expect(page.locator("#live")).to_have_text("live")
    assert page.evaluate("sessionStorage.getItem('odyssai.apiKey')") == KEY
    keyed_calls = [r for r in admin_calls if r.headers.get("authorization") == f"Bearer {KEY}"]
    assert {r.url.split("/admin/", 1)[1] for r in keyed_calls} >= {"clusters", "events", "here/topology", "here/models"}
    assert all(KEY not in r.url for r in admin_calls)

    admin_calls.clear()
    page.reload()  # the key is kept for the tab: no second question
    expect(card(page, "here")).to_be_visible()
    expect(page.locator("#live")).to_have_text("live")
    expect(dialog).to_be_hidden()
    assert admin_calls and all(r.headers.get("authorization") == f"Bearer {KEY}" for r in admin_calls)


def test_admin_actions_without_the_key_get_401_while_the_page_is_public(keyed):
    bare = httpx.Client(base_url=keyed.url, timeout=30)
    try:
        assert bare.get("/").status_code == 200 and bare.get("/dashboard/app.js").status_code == 200
        for method, path in [("POST", "/admin/here/load"), ("POST", "/admin/here/unload"),
                             ("POST", "/admin/here/reboot"), ("GET", "/admin/events"), ("GET", "/metrics")]:
            r = bare.request(method, path, json={"model": MODEL} if path.endswith("/load") else None)
            assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error", path
    finally:
        bare.close()


def test_the_topology_view_highlights_one_sided_and_missing_cables(page, keyed):
    page.goto(keyed.url + "/")
    page.fill("#api-key", KEY)
    page.click("#key-submit")
    lab = card(page, "lab")
    cables = lab.locator("svg g.cable")
    expect(cables).to_have_count(3)
    states = {(c.get_attribute("data-a"), c.get_attribute("data-b")): c.get_attribute("data-state")
              for c in cables.all()}
    assert states == {("m1", "m2"): "ok", ("m1", "m3"): "one-sided", ("m2", "m3"): "missing"}
    expect(lab.locator(".mesh-problems li")).to_have_text(["one-sided cable: m1 -> m3 (rdma_en4) is not seen from m3",
                                                            "missing cable: m2 <-> m3"])
    expect(lab.locator("figcaption")).to_contain_text("Thunderbolt mesh has problems")
    expect(lab.locator("button.reboot")).to_be_visible()  # jaccl: the queue-pair quirk's remedy is always at hand
    expect(lab.locator(".notice")).to_contain_text("unreachable over SSH", timeout=30_000)
    expect(card(page, "here").locator("figcaption")).to_have_text("ring over Ethernet: no Thunderbolt mesh in use")
    page.screenshot(path=str(SHOTS / "dashboard-topology.png"), full_page=True)


def test_the_pages_event_parser_joins_messages_split_across_chunks(page, keyed):
    page.goto(keyed.url + "/")
    got = page.evaluate("""async () => {
      const { parseSSE } = await import("/dashboard/api.js");
      const first = parseSSE('retry: 2000\\nevent: hello\\ndata: {"a":1}\\n\\n: keepalive\\n\\nid: 4\\nevent: log\\nda');
      const second = parseSSE(first.rest + 'ta: {"line":"x"}\\r\\n\\r\\n');
      return [first.messages, second.messages, second.rest];
    }""")
    assert got == [[{"event": "hello", "data": '{"a":1}', "retry": 2000}],
                   [{"event": "log", "data": '{"line":"x"}', "id": "4"}], ""]


def test_a_failed_test_leaves_a_screenshot_of_its_page(page, keyed):
    page.goto(keyed.url + "/")
    expect(page.locator("#key-dialog")).to_be_visible()
    shot = save_failure_screenshot(page, "test_x[param/1]")
    try:
        assert shot == SHOTS / "FAILED-test_x_param_1_.png" and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        if shot:
            shot.unlink()
