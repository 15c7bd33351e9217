"""``guild view`` in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, via Selenium)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import perf_fixtures  # noqa: E402
from helpers import write_project  # noqa: E402
from viewserver import ViewServer, wait_for  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("Debian's chromium and chromium-driver are not installed (make test-deps)", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def open_page(browser, url: str) -> None:
    browser.get(url)
    wait_for(lambda: browser.execute_script("return document.body.dataset.ready === '1'"))


def table(browser) -> tuple[list[str], list[list[str]]]:
    """(header labels, rows of cell texts) of the runs table as shown."""
    # Read in one script call: the page may redraw between two WebDriver calls.
    return tuple(
        browser.execute_script(
            "const q = (s, e) => [...(e || document).querySelectorAll(s)];"
            "return [q('#runs thead th[data-col]').map((th) => th.innerText),"
            "        q('#runs tbody tr').map((tr) => q('td[data-col]', tr).map((td) => td.innerText))];"
        )
    )


def column(browser, label: str) -> list[str]:
    heads, rows = table(browser)
    i = heads.index(label)
    return [r[i] for r in rows]


@pytest.fixture
def home(tmp_path):
    home = str(tmp_path / "home")
    flags = [{"lr": 0.1, "epochs": 3}, {"lr": 0.01, "epochs": 10}, {"lr": 0.5, "epochs": 2, "opt": "sgd"}]
    ids = perf_fixtures.make_home(home, 3, flags_for=lambda i: flags[i])
    perf_fixtures.write_attr(os.path.join(home, "runs", ids[0]), "label", "baseline")
    return home, ids


def test_runs_table_rows_columns_sorting_and_filter(browser, home):
    home_dir, ids = home
    with ViewServer(home_dir) as view:
        open_page(browser, view.url + "/?poll=500")
        heads, rows = table(browser)
        assert heads == ["run", "operation", "started", "time", "status", "label", "epochs", "lr", "opt"]
        assert [r[0] for r in rows] == [i[:8] for i in ids[::-1]]  # newest first
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(perf_fixtures.BASE_US // 1_000_000))
        assert rows[2][1:] == ["echo.py", started, "0:00:00", "completed", "baseline", "3", "0.1", ""]
        assert rows[0][8] == "sgd"

        def click_header(label: str) -> None:
            browser.execute_script("document.querySelector(arguments[0]).click()", "#runs thead th[data-col='%s']" % label)

        click_header("flag:lr")
        assert column(browser, "lr") == ["0.01", "0.1", "0.5"]
        click_header("flag:lr")
        assert column(browser, "lr") == ["0.5", "0.1", "0.01"]
        click_header("flag:epochs")
        assert column(browser, "epochs") == ["2", "3", "10"]  # numbers as numbers, not text
        click_header("flag:opt")
        assert column(browser, "opt") == ["sgd", "", ""]  # empty cells last
        click_header("label")
        assert column(browser, "label") == ["baseline", "epochs=2 lr=0.5 opt=sgd", "epochs=10 lr=0.01"]

        browser.find_element(By.ID, "filter").send_keys("baseline")
        assert column(browser, "run") == [ids[0][:8]]
        assert browser.find_element(By.ID, "summary").text == "1 of 3 runs"
        browser.find_element(By.ID, "filter").clear()
        browser.find_element(By.ID, "filter").send_keys("0.5")
        assert column(browser, "run") == [ids[2][:8]]
        assert view.stop()[0] == 0


# A run that takes its steps when the test says so: step i > 0 waits for GATES/step<i>, the end for GATES/finish.
SLOW_PY = """\
import os, time
gates = ""
steps = 2

def wait(name):
    while gates and not os.path.exists(os.path.join(gates, name)):
        time.sleep(0.05)

for i in range(steps):
    if i:
        wait("step%d" % i)
    print("step: %d" % i)
    print("loss: %s" % (1.0 / (i + 1)), flush=True)
    print("step %d done" % i, flush=True)
wait("finish")
print("finished", flush=True)
"""


def open_gate(gates: str, *names: str) -> None:
    os.makedirs(gates, exist_ok=True)
    for name in names:
        open(os.path.join(gates, name), "a").close()


def start_run(home: str, proj: str, *flags: str) -> subprocess.Popen:
    """A real ``guild run`` of slow.py in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "luigi_guild", "run", "slow.py", "-y", *flags],
        cwd=proj,
        env=dict(os.environ, GUILD_HOME=home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_table_follows_a_running_run_live(browser, home, tmp_path):
    home_dir, ids = home
    proj = write_project(str(tmp_path / "proj"), {"slow.py": SLOW_PY})
    gates = str(tmp_path / "gates")
    with ViewServer(home_dir) as view:
        open_page(browser, view.url + "/?poll=300")
        assert len(table(browser)[1]) == 3
        proc = start_run(home_dir, proj, "gates=" + gates)
        try:
            # The new run appears as running without a reload, with its first output scalar...
            wait_for(lambda: len(table(browser)[1]) == 4 and column(browser, "status")[0] == "running", timeout=30)
            assert "gates" in table(browser)[0]
            marker = browser.execute_script("return (window.__marker = 42)")
            wait_for(lambda: "loss" in table(browser)[0] and column(browser, "loss")[0] == "1", timeout=30)
            # ...the scalar changes as the run logs its next value...
            open_gate(gates, "step1")
            wait_for(lambda: column(browser, "loss")[0] == "0.5", timeout=30)
            assert column(browser, "status")[0] == "running"
            # ...and it turns completed when it ends.
            open_gate(gates, "finish")
            wait_for(lambda: column(browser, "status")[0] == "completed", timeout=30)
            assert browser.execute_script("return window.__marker") == marker  # same page, never reloaded
        finally:
            open_gate(gates, "step1", "finish")
            proc.wait(timeout=30)
        assert view.stop()[0] == 0


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG (red pixels)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def log_scalars(run_dir: str, scalars: dict[str, list[tuple[int, float]]], subdir: str = ".guild") -> None:
    """Write TensorBoard event files into the run, as a training script (or Guild's output scalars) would."""
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(os.path.join(run_dir, subdir))
    for tag, points in scalars.items():
        for step, value in points:
            writer.add_scalar(tag, value, step)
    writer.close()


def test_charts_one_line_per_selected_run(browser, home):
    home_dir, ids = home
    runs_dir = os.path.join(home_dir, "runs")
    log_scalars(os.path.join(runs_dir, ids[0]), {"loss": [(0, 1.0), (1, 0.5), (2, 0.25)], "acc": [(2, 0.7)]})
    log_scalars(os.path.join(runs_dir, ids[1]), {"loss": [(0, 2.0), (1, 1.5), (2, 1.0), (3, 0.75)]})
    log_scalars(os.path.join(runs_dir, ids[2]), {"loss": [(0, 9.0)]})
    with ViewServer(home_dir) as view:
        open_page(browser, view.url + "/?poll=500")
        heads, rows = table(browser)
        assert heads[-3:] == ["step", "loss", "acc"]  # as guild compare: step of loss, then last values
        assert column(browser, "step") == ["0", "3", "2"]
        assert column(browser, "loss") == ["9", "0.75", "0.25"]
        assert column(browser, "acc") == ["", "", "0.699999"]  # cut to 6 decimals as guild compare
        assert browser.find_elements(By.CSS_SELECTOR, "#charts .chart") == []
        for run_id in ids[:2]:
            browser.execute_script(
                "document.querySelector(`tr[data-run-id='${arguments[0]}'] input.select-run`).click()", run_id
            )
        wait_for(
            lambda: browser.execute_script(
                "const c = window.viewCharts || {};"
                "return Object.keys(c).sort().join() === 'acc,loss' && c.loss.series.length === 3"
            )
        )
        # uPlot's series: the x (step) series first, then one line per selected run.
        labels = browser.execute_script("return window.viewCharts.loss.series.slice(1).map((s) => s.label)")
        assert labels == ["%s echo.py" % ids[1][:8], "%s echo.py" % ids[0][:8]]
        data = browser.execute_script("return window.viewCharts.loss.data")
        assert data[0] == [0, 1, 2, 3]
        assert data[1] == [2, 1.5, 1, 0.75] and data[2] == [1, 0.5, 0.25, None]
        assert browser.execute_script("return window.viewCharts.acc.series.length") == 2
        # Hovering a chart shows each run's value at that step in the legend.
        over = browser.find_element(By.CSS_SELECTOR, ".chart[data-tag='loss'] .u-over")
        from selenium.webdriver import ActionChains

        ActionChains(browser).move_to_element_with_offset(over, -over.size["width"] // 6, 0).perform()  # near step 1
        values = wait_for(
            lambda: [
                v
                for v in browser.execute_script(
                    "return [...document.querySelectorAll(\".chart[data-tag='loss'] .u-legend .u-value\")].map((e) => e.innerText)"
                )
                if v not in ("", "--")
            ]
        )
        assert len(values) == 3  # step + one value per run
        # Unselecting a run takes its line away.
        browser.execute_script("document.querySelector(`tr[data-run-id='${arguments[0]}'] input.select-run`).click()", ids[0])
        wait_for(lambda: browser.execute_script("return Object.keys(window.viewCharts).join()") == "loss")
        assert browser.execute_script("return window.viewCharts.loss.series.length") == 2
        assert view.stop()[0] == 0


def test_run_page_shows_everything_and_refuses_traversal(browser, home, tmp_path):
    home_dir, ids = home
    run_dir = os.path.join(home_dir, "runs", ids[1])
    perf_fixtures.write_attr(run_dir, "deps", {"prepare": {"run": ids[0], "paths": ["data.csv"]}})
    log_scalars(run_dir, {"loss": [(0, 2.0), (5, 1.0)]})
    with open(os.path.join(run_dir, "notes.txt"), "w") as f:
        f.write("first line\nsecond line\n")
    os.makedirs(os.path.join(run_dir, "plots"))
    with open(os.path.join(run_dir, "plots", "curve.png"), "wb") as f:
        f.write(png_bytes())
    with open(os.path.join(run_dir, "model.bin"), "wb") as f:
        f.write(bytes(range(256)) * 4)
    (tmp_path / "secret.txt").write_text("top secret\n")
    with ViewServer(home_dir) as view:
        open_page(browser, view.url + "/run/" + ids[1])
        text = lambda sel: browser.find_element(By.CSS_SELECTOR, sel).text  # noqa: E731
        assert text("#run-status") == "completed"
        assert text("#flags dd[data-key='lr']") == "0.01"
        assert text("#attributes dd[data-key='host']") == "bench"
        assert text("#scalars tr[data-key='loss']").split() == ["loss", "1", "5"]
        assert text("#deps").startswith("prepare: " + ids[0][:8])
        assert browser.find_element(By.CSS_SELECTOR, "#deps a").get_attribute("href").endswith("/run/" + ids[0])
        assert wait_for(lambda: text("#output")) == "None None None"  # the output line perf_fixtures writes
        assert browser.execute_script("return document.querySelectorAll('#charts .chart').length") == 1
        files = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#files a.file")]
        assert files == ["model.bin", "notes.txt", "plots/curve.png"]

        def show(path: str) -> None:
            browser.find_element(By.CSS_SELECTOR, "#files a.file[data-path='%s']" % path).click()

        show("notes.txt")
        assert wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#file-view pre.file-text"))[0].text == "first line\nsecond line"
        show("plots/curve.png")
        img = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#file-view img"))[0]
        assert wait_for(lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)) == 4
        show("model.bin")
        assert "Binary file" in wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#file-view p.binary"))[0].text
        link = browser.find_element(By.CSS_SELECTOR, "#file-view a.download").get_attribute("href")
        status, headers, body = view.request(link[len(view.url) :])
        assert status == 200 and body == bytes(range(256)) * 4
        assert headers["content-disposition"] == 'attachment; filename="model.bin"'

        # A traversal typed into the browser is refused, and nothing outside the run is shown.
        for path in ("..%2F..%2F..%2F" + "secret.txt", "..%2F" + ids[0] + "%2F.guild%2Foutput", "plots%2F..%2F..%2Fsecret.txt"):
            browser.get(view.url + "/api/runs/%s/files/%s" % (ids[1], path))
            body_text = browser.find_element(By.TAG_NAME, "body").text
            assert "refused" in body_text and "top secret" not in body_text, path
        # Chromium resolves a plain ../ (or %2e%2e/) itself: the request leaves /api/runs and finds nothing.
        browser.get(view.url + "/api/runs/%s/files/%%2e%%2e/%%2e%%2e/%%2e%%2e/secret.txt" % ids[1])
        assert browser.find_element(By.TAG_NAME, "body").text == "Not Found"
        assert view.stop()[0] == 0


def test_run_page_output_follows_a_running_run(browser, home, tmp_path):
    home_dir, _ = home
    proj = write_project(str(tmp_path / "proj"), {"slow.py": SLOW_PY})
    gates = str(tmp_path / "gates")
    with ViewServer(home_dir) as view:
        proc = start_run(home_dir, proj, "gates=" + gates)
        try:
            run_id = wait_for(
                lambda: [r["id"] for r in view.json("/api/runs") if r["status"] == "running"], timeout=30
            )[0]
            open_page(browser, view.url + "/run/%s?poll=300" % run_id)
            output = lambda: browser.find_element(By.ID, "output").text  # noqa: E731
            assert browser.find_element(By.ID, "run-status").text == "running"
            wait_for(lambda: "step 0 done" in output(), timeout=30)
            assert "step 1 done" not in output()
            open_gate(gates, "step1")
            wait_for(lambda: "step 1 done" in output(), timeout=30)
            assert "finished" not in output() and browser.find_element(By.ID, "run-status").text == "running"
            open_gate(gates, "finish")
            wait_for(lambda: browser.find_element(By.ID, "run-status").text == "completed", timeout=30)
            wait_for(lambda: output().endswith("finished"))
            out = output()
            assert out.count("step 0 done") == 1 and out.count("finished") == 1  # appended, never repeated
        finally:
            open_gate(gates, "step1", "finish")
            proc.wait(timeout=30)
        assert view.stop()[0] == 0
