"""The browser suite: a real JupyterLab server driven by headless Chromium through Playwright.

One JupyterLab per test session, started from this virtualenv on 127.0.0.1 with a random
free port and a random token, serving *copies* of ``notebooks/`` from a temp folder (the
checkout is never modified), with a temp cache, outputs, settings and runtime folder. It is
shut down at the end of the session whatever the outcome (REST shutdown, then SIGTERM and
SIGKILL to the server, its process group and every kernel it started) and the teardown
checks that the port is closed again.

Chromium is Debian's ``/usr/bin/chromium`` (``$CHROMIUM`` overrides it), installed by
``scripts/install_browser.sh``; Playwright's own browser download is not used. Missing
Chromium or Playwright makes the tests fail with the install command, unless
``WORKBENCH_SKIP_BROWSER=1`` is set, which deselects them and says so.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NOTEBOOKS = ROOT / "notebooks"
INSTALL_HINT = (
    "install it with `make install-browser` (runs scripts/install_browser.sh: "
    "apt-get install chromium, as root) and `.venv/bin/pip install -e '.[dev]'` (playwright); "
    "or set WORKBENCH_SKIP_BROWSER=1 to deselect the browser tests"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT_S = 90


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: drives JupyterLab in headless Chromium (needs scripts/install_browser.sh; "
        "WORKBENCH_SKIP_BROWSER=1 deselects)",
    )


def pytest_collection_modifyitems(config, items):
    if os.environ.get("WORKBENCH_SKIP_BROWSER", "") not in ("1", "true", "yes"):
        return
    mine = [item for item in items if HERE in Path(str(item.path)).resolve().parents]
    if not mine:
        return
    config.hook.pytest_deselected(items=mine)
    items[:] = [item for item in items if item not in mine]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    message = f"WORKBENCH_SKIP_BROWSER=1: deselected {len(mine)} browser test(s) in {HERE.relative_to(ROOT)}"
    if reporter is not None:
        reporter.write_line(message, yellow=True)
    else:
        print(message)


# --------------------------------------------------------------------------- prerequisites


def _chromium_path() -> Path:
    path = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"Chromium not found at {path}: {INSTALL_HINT}.", pytrace=False)
    return path


def _sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            f"the Python package `playwright` is not installed: {INSTALL_HINT}.", pytrace=False
        )
    return sync_playwright


# --------------------------------------------------------------------------- JupyterLab server


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: its base URL, token, the folder it serves and its log file."""

    url: str
    token: str
    port: int
    root_dir: Path
    log: Path

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-n:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _write_lab_settings(folder: Path) -> None:
    """User settings: render every cell (no virtual scrolling) and never fetch news."""
    settings = {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
    }
    for plugin, values in settings.items():
        package, name = plugin.rsplit("/", 1)
        path = folder / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _terminate_with_parent():
    """``preexec_fn`` for the server: SIGTERM it if the test process dies, even by SIGKILL
    (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere the session teardown alone stops it)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:
        prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG

    return set_death_signal


def _stop(process: subprocess.Popen, server: LabServer) -> None:
    """Stop the server and every process it started (kernels run in their own sessions)."""
    import psutil

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if process.poll() is None:
        request = urllib.request.Request(
            f"{server.url}/api/shutdown",
            method="POST",
            headers={"Authorization": f"token {server.token}"},
        )
        try:
            urllib.request.urlopen(request, timeout=5).close()
            process.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    for child in alive:
        child.terminate()
    _, alive = psutil.wait_procs(alive, timeout=5)
    for child in alive:
        child.kill()
    psutil.wait_procs(alive, timeout=5)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory) -> LabServer:
    """JupyterLab on 127.0.0.1:<random port> serving copies of ``notebooks/``."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root_dir = base / "notebooks"
    shutil.copytree(
        NOTEBOOKS, root_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "outputs")
    )
    settings = base / "lab-settings"
    _write_lab_settings(settings)
    port, token = _free_port(), secrets.token_hex(24)
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "JUPYTER_PATH")}
    # MPLBACKEND=Agg (set by tests/conftest.py) would stop ipykernel from choosing the inline
    # backend, and the notebooks' figures would not appear.
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        # The same temp cache as tests/conftest.py: a notebook test that runs later in the
        # session re-uses the checkpoints trained here instead of training them again.
        WORKBENCH_CACHE=str(tmp_path_factory.getbasetemp() / "workbench-cache"),
        WORKBENCH_OUTPUTS=str(base / "outputs"),
        JUPYTER_CONFIG_DIR=str(base / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(base / "jupyter-runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "lab-workspaces"),
        IPYTHONDIR=str(base / "ipython"),
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.allow_root=True",  # CI containers run as root
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run commands
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no PyPI queries
    ]
    log = base / "jupyterlab.log"
    server = LabServer(f"http://127.0.0.1:{port}", token, port, root_dir, log)
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_terminate_with_parent() if sys.platform == "linux" else None,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with code {process.returncode} while starting:\n"
                    + server.log_tail(),
                    pytrace=False,
                )
            try:
                request = urllib.request.Request(
                    f"{server.url}/api/status", headers={"Authorization": f"token {token}"}
                )
                urllib.request.urlopen(request, timeout=2).close()
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not answer on {server.url} within "
                        f"{SERVER_START_TIMEOUT_S} s:\n" + server.log_tail(),
                        pytrace=False,
                    )
                time.sleep(0.25)
        yield server
    finally:
        _stop(process, server)
        assert not _port_open(port), f"JupyterLab's port {port} is still open after shutdown"


# --------------------------------------------------------------------------- Chromium


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A headless Chromium (Debian's binary) with a fresh profile, as a Playwright context."""
    chromium = _chromium_path()
    sync_playwright = _sync_playwright()
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1300},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    """``outputs/screenshots/`` (git-ignored; ``$WORKBENCH_OUTPUTS/screenshots`` when set)."""
    from workbench.report import outputs_dir

    folder = outputs_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --------------------------------------------------------------------------- notebook pages

# State of the open notebook: kernel status, code cells still queued/running ("[*]"), cells
# never run ("[ ]"; empty cells are not sent to the kernel and are left out), error outputs.
RUN_STATE_JS = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.content || !w.sessionContext) return null;
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(
    c => c.model.type === 'code' && c.model.sharedModel.getSource().trim() !== '');
  const prompt = c => (c.node.querySelector('.jp-InputPrompt') || {}).textContent || '';
  const errors = [];
  cells.forEach((c, i) => {
    for (const o of c.model.outputs.toJSON())
      if (o.output_type === 'error') errors.push(`code cell ${i}: ${o.ename}: ${o.evalue}`);
  });
  const tracebacks = [...w.node.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(e => e.innerText).filter(t => t.includes('Traceback'));
  const widgetErrors = [...w.node.querySelectorAll('.jp-OutputArea-output')]
    .map(e => e.innerText)
    .filter(t => /Error displaying widget|Failed to load model class|Error rendering/.test(t));
  return {
    path: w.context.path, ready: w.context.isReady, kernel: kernel ? kernel.status : null,
    codeCells: cells.length, running: cells.filter(c => prompt(c).includes('*')).length,
    notRun: cells.filter(c => !/\\d/.test(prompt(c))).length,
    errors: errors.concat(tracebacks, widgetErrors),
  };
}"""

# The text a widget panel prints or shows (HTML, labels, Output widgets), without its controls.
PANEL_TEXT_JS = """el => [...el.querySelectorAll(
  '.widget-html-content, .widget-label-basic, .widget-output .jp-OutputArea-output')]
  .map(e => e.innerText.trim()).filter(Boolean).join('\\n')"""
PANEL_READOUTS_JS = """el => [...el.querySelectorAll('.widget-readout, .widget-slider .noUi-handle')]
  .map(e => e.getAttribute('aria-valuenow') || e.innerText)"""
PANEL_PLOTS_JS = (
    """el => el.querySelectorAll('img, svg.main-svg, .js-plotly-plot, canvas').length"""
)


class NotebookPage:
    """One notebook opened in JupyterLab in its own browser tab."""

    def __init__(self, page, server: LabServer, name: str, timeout_s: float):
        self.page, self.server, self.name, self.timeout_s = page, server, name, timeout_s
        self.console_errors: list[str] = []
        page.on(
            "console",
            lambda m: self.console_errors.append(m.text[:300]) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.console_errors.append(f"page error: {e}"[:300]))

    # -- state ---------------------------------------------------------------------------
    def state(self) -> dict | None:
        return self.page.evaluate(RUN_STATE_JS)

    def fail(self, message: str, screenshot: Path | None = None):
        if screenshot is not None:
            try:
                self.page.screenshot(path=str(screenshot))
                message += f"\n(screenshot: {screenshot})"
            except Exception:  # noqa: BLE001 - the failure below is the one that matters
                pass
        details = [message, f"notebook state: {self.safe_state()}"]
        if self.console_errors:
            details.append("browser console errors:\n  " + "\n  ".join(self.console_errors[-10:]))
        details.append("JupyterLab log (tail):\n" + self.server.log_tail(25))
        pytest.fail("\n".join(details), pytrace=False)

    def safe_state(self):
        try:
            return self.state()
        except Exception as e:  # noqa: BLE001
            return f"unavailable ({e})"

    def wait_for(self, done, what: str, timeout_s: float, screenshot: Path | None = None):
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.state()
            if state is not None and done(state):
                return state
            if time.monotonic() > deadline:
                self.fail(
                    f"{self.name}: timed out after {timeout_s:.0f} s waiting for {what}", screenshot
                )
            self.page.wait_for_timeout(250)

    # -- actions -------------------------------------------------------------------------
    def open(self, screenshot: Path | None = None) -> None:
        self.page.goto(f"{self.server.url}/lab/tree/{self.name}?token={self.server.token}")
        self.wait_for(
            lambda s: s["path"] == self.name and s["ready"] and s["kernel"] == "idle",
            "the notebook to open with an idle kernel",
            min(self.timeout_s, 120),
            screenshot,
        )
        # Room for the notebook in screenshots: fold the file browser away.
        self.page.evaluate("window.jupyterapp.shell.collapseLeft()")

    def run_all(self, screenshot: Path | None = None) -> dict:
        """Run > Run All Cells, then wait until every code cell ran and the kernel is idle."""
        self.page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        return self.wait_for(
            lambda s: (
                s["kernel"] == "idle" and s["running"] == 0 and (s["notRun"] == 0 or s["errors"])
            ),
            "all cells to run",
            self.timeout_s,
            screenshot,
        )

    def shutdown_kernel(self) -> None:
        self.page.evaluate(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " return w && w.sessionContext && w.sessionContext.shutdown(); }"
        )

    def slider(self, label: str):
        """The first ipywidgets slider whose description matches the regex ``label``."""
        label_locator = self.page.locator(".widget-label", has_text=re.compile(label))
        return self.page.locator(".widget-slider").filter(has=label_locator).first

    def panel(self, slider):
        """The cell output (the whole ``interactive`` panel) holding ``slider``."""
        return (
            self.page.locator(".jp-Cell-outputArea > .jp-OutputArea-child").filter(has=slider).first
        )

    def panel_text(self, panel) -> str:
        """What the panel prints or shows as text (HTML, labels, Output widgets), no controls."""
        return panel.evaluate(PANEL_TEXT_JS)

    def panel_readouts(self, panel) -> list[str]:
        """The values of the panel's sliders, as shown next to them and as aria-valuenow."""
        return panel.evaluate(PANEL_READOUTS_JS)

    def panel_plots(self, panel) -> int:
        """How many images or plotly/canvas plots the panel shows."""
        return panel.evaluate(PANEL_PLOTS_JS)

    def wait_until_idle(self, timeout_s: float = 60) -> None:
        self.wait_for(lambda s: s["kernel"] == "idle", "the kernel to become idle", timeout_s)


@pytest.fixture
def open_notebook(browser, lab_server):
    """``open_notebook(name) -> NotebookPage``: opens a copy of ``notebooks/<name>`` in a new
    tab; the tab is closed and its kernel shut down after the test."""
    pages: list[NotebookPage] = []
    timeout_s = float(os.environ.get("WORKBENCH_BROWSER_TIMEOUT", "300"))

    def _open(name: str, screenshot: Path | None = None) -> NotebookPage:
        if not (lab_server.root_dir / name).is_file():
            raise FileNotFoundError(f"notebook {name!r} not found in {NOTEBOOKS}")
        notebook = NotebookPage(browser.new_page(), lab_server, name, timeout_s)
        pages.append(notebook)
        notebook.open(screenshot)
        return notebook

    yield _open
    for notebook in pages:
        try:
            notebook.shutdown_kernel()
        finally:
            notebook.page.close()
