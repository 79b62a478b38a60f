"""The report in a real browser: headless Chromium (Debian's ``chromium``) opens the page of a run, of a grid run
with cross-validation and of an own-data run, with every request it makes recorded. The page must load with
no request leaving the file and no console message of level error; its DOM must hold the expected headings,
tables and one SVG per panel, each drawn with a size; and a screenshot of the whole page is taken.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages ended by
NUL on descriptors 3 and 4), so the test needs no driver package. Where chromium is missing, the set-up
installs it with apt-get when it can (root, apt-get present), and the tests skip, saying why, when it cannot.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import invoke

pytest.importorskip("matplotlib")
pytestmark = pytest.mark.slow

CONFIGS = Path(__file__).parent.parent / "configs"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="session")
def browser():
    """The path of chromium, installed first with apt-get where it is missing and this user may."""
    found = find_browser()
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("no chromium here, and apt-get is not available to this user to install it "
                    "(apt-get install chromium, then run again)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:  # the package lists may be missing on a fresh machine
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=900)
        done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0 or not find_browser():
        pytest.skip(f"chromium could not be installed with apt-get: {done.stderr.strip()[-300:]}")
    return find_browser()


class DevTools:
    """Chromium under the DevTools protocol on a pipe: send() a command and wait for its answer; the events
    that arrive meanwhile are kept in ``events``."""

    def __init__(self, path: str, profile: Path):
        to_child, self._to = os.pipe()
        self._from, from_child = os.pipe()

        def descriptors():
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", "about:blank"]
        self.proc = subprocess.Popen([path, *flags], preexec_fn=descriptors, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self._buffer, self._id, self.events, self.session = b"", 0, [], None

    def send(self, method: str, timeout: float = 60, **params) -> dict:
        import select

        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._to, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                ready, _, _ = select.select([self._from], [], [], timeout)
                assert ready, f"chromium did not answer {method} in {timeout} s"
                chunk = os.read(self._from, 1 << 20)
                assert chunk, "chromium closed its pipe"
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                assert "error" not in reply, reply["error"]
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        import time

        end = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            assert time.monotonic() < end, f"no {event} in {timeout} s"
            self.send("Runtime.evaluate", expression="1")

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self._to)
        os.close(self._from)


def open_page(path: str, page: Path, profile: Path) -> tuple[dict, list[dict], bytes]:
    """(the DOM's facts, every event, a PNG screenshot of the whole page) of ``page`` in chromium."""
    tools = DevTools(path, profile)
    try:
        target = tools.send("Target.createTarget", url="about:blank")["targetId"]
        tools.session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            tools.send(f"{domain}.enable")
        tools.send("Page.navigate", url=page.resolve().as_uri())
        tools.wait_for("Page.loadEventFired")
        facts = tools.send("Runtime.evaluate", returnByValue=True, expression=DOM_FACTS)["result"]["value"]
        shot = tools.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        import base64

        return json.loads(facts), tools.events, base64.b64decode(shot)
    finally:
        tools.close()


DOM_FACTS = """JSON.stringify({
  headings: [...document.querySelectorAll('h1, h2')].map(h => h.textContent),
  tables: document.querySelectorAll('table').length,
  rows: [...document.querySelectorAll('table')].map(t => t.rows.length),
  panels: [...document.querySelectorAll('svg[data-panel]')].map(s => s.dataset.panel),
  sizes: [...document.querySelectorAll('svg[data-panel]')].map(s => [s.getBoundingClientRect().width,
                                                                   s.getBoundingClientRect().height]),
  drawn: [...document.querySelectorAll('svg[data-panel]')].map(s => s.querySelectorAll('path, use').length),
  height: document.documentElement.scrollHeight,
  title: document.title,
})"""


def problems(events: list[dict], page: Path) -> list[str]:
    """Every request that is not the page itself (or data inside it), and every console or log error."""
    own = page.resolve().as_uri()
    out = []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url != own and not url.startswith("data:"):
                out.append(f"request: {url}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
            out.append(f"console {params['type']}: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            out.append(f"exception: {params.get('exceptionDetails')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
            out.append(f"log {params['entry']['level']}: {params['entry'].get('text')}")
    return out


RUNS = {
    "moons": (["sweep", "--epochs", "150", "--lambdas", "1e-4,1e-2,1", "--seeds", "0,1"],
              ["What was run", "Results", "Pictures", "Warnings and notes"],
              ["losses", "norms", "learning", "coefficients", "boundary", "weights"]),
    "grid": (["sweep", "--epochs", "100", "--lambdas", "1e-3,1", "--seeds", "0,1", "--grid", "model.hidden=[4],[8]",
              "--cv", "3"],
             ["What was run", "Comparison across cells", "Cell 1: hidden=[4]", "Cell 2: hidden=[8]",
              "Warnings and notes"],
             ["losses", "norms", "heatmap", *(f"{p}-cell-{k}" for k in (1, 2) for p in
                                   ("learning", "coefficients", "boundary", "weights"))]),
    "animals": (["sweep", str(CONFIGS / "animals.toml"), "--epochs", "100", "--seeds", "0,1"],
                ["What was run", "Results", "Pictures", "Warnings and notes"],
                ["losses", "norms", "learning", "coefficients", "weights"]),
}


@pytest.mark.parametrize("name", list(RUNS))
def test_the_report_loads_in_chromium_with_no_request_and_no_error(browser, tmp_path, name):
    args, sections, panels = RUNS[name]
    result = invoke(*args, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    result = invoke("report", tmp_path / "run")
    assert result.exit_code == 0, result.output
    page = tmp_path / "run" / "report.html"
    facts, events, shot = open_page(browser, page, tmp_path / "profile")
    assert problems(events, page) == []
    assert any(e.get("method") == "Network.requestWillBeSent" for e in events)  # the recording saw the page
    assert facts["headings"][0] == "l2cli report: run"
    assert facts["headings"][1:] == sections
    assert facts["panels"] == panels
    assert all(w > 300 and h > 150 for w, h in facts["sizes"]), facts["sizes"]
    assert all(n > 10 for n in facts["drawn"])  # each SVG drew lines, marks and text
    assert facts["tables"] >= 4 and min(facts["rows"]) >= 2
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 50_000
    (tmp_path / "screenshot.png").write_bytes(shot)
    if os.environ.get("L2CLI_KEEP_SCREENSHOTS"):  # to look at: L2CLI_KEEP_SCREENSHOTS=DIR
        shutil.copy(tmp_path / "screenshot.png", Path(os.environ["L2CLI_KEEP_SCREENSHOTS"]) / f"{name}.png")


def test_an_injected_script_neither_runs_nor_fetches(browser, tmp_path):
    """The page's Content-Security-Policy: even markup written into report.html by hand loads nothing."""
    result = invoke("sweep", "--epochs", "20", "--lambdas", "1", "--seeds", "0", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    assert invoke("report", tmp_path / "run").exit_code == 0
    page = tmp_path / "run" / "report.html"
    page.write_text(page.read_text().replace(
        "</main>", '<img src="http://example.invalid/x.png"><script>document.title = "ran"</script></main>'))
    facts, events, _ = open_page(browser, page, tmp_path / "profile")
    sent = {e["params"]["requestId"]: e["params"]["request"]["url"] for e in events
            if e.get("method") == "Network.requestWillBeSent"}
    failed = {sent.get(e["params"]["requestId"]): e["params"].get("blockedReason") for e in events
              if e.get("method") == "Network.loadingFailed"}
    assert failed.get("http://example.invalid/x.png") == "csp"  # refused by the page's policy, before any lookup
    assert facts["headings"][0] == "l2cli report: run" and facts["title"] == "l2cli report: run"  # no script ran
    assert any("Content Security Policy" in p for p in problems(events, page))  # and chromium said so


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-m", "slow", "-q"]))
