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


SLOW_PY = """\
import sys, time
steps = 3
for i in range(steps):
    print("loss: %s" % (1.0 / (i + 1)), flush=True)
    print("step %d done" % i, flush=True)
    time.sleep(1.0)
wait_for = ""
while wait_for and not __import__("os").path.exists(wait_for):
    time.sleep(0.1)
print("finished", flush=True)
"""


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
    gate = str(tmp_path / "gate")
    with ViewServer(home_dir) as view:
        open_page(browser, view.url + "/?poll=300")
        assert len(table(browser)[1]) == 3
        proc = start_run(home_dir, proj, "wait_for=" + gate)
        try:
            # The new run appears as running without a reload...
            wait_for(lambda: len(table(browser)[1]) == 4 and column(browser, "status")[0] == "running", timeout=30)
            assert "wait_for" in table(browser)[0]
            marker = browser.execute_script("return (window.__marker = 42)")
            # ...and turns completed when it ends.
            open(gate, "w").close()
            wait_for(lambda: column(browser, "status")[0] == "completed", timeout=30)
            assert browser.execute_script("return window.__marker") == marker  # same page, never reloaded
        finally:
            open(gate, "a").close()
            proc.wait(timeout=30)
        assert view.stop()[0] == 0
