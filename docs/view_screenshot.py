"""Regenerate docs/view.png, the README's picture of ``guild view``.

Makes a throwaway Guild home with a few real runs of a small training script
(it prints its loss and accuracy, which become output scalars), starts
``guild view -n`` on it, selects the runs in headless Chromium and saves a
screenshot of the page. Needs the test extra (selenium) and
Debian's chromium + chromium-driver:

    .venv/bin/python docs/view_screenshot.py [OUTPUT.png]
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))

TRAIN_PY = textwrap.dedent(
    """\
    import math

    lr = 0.1
    epochs = 12

    for step in range(epochs):
        loss = math.exp(-lr * 3 * step) * (1 + 0.1 * math.sin(step)) + 0.02
        print("step: %d" % step)
        print("loss: %.4f" % loss)
        print("acc: %.4f" % (1 - loss / 2))
    """
)


def main(out: str) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as tmp:
        home, proj = os.path.join(tmp, "home"), os.path.join(tmp, "proj")
        os.makedirs(proj)
        with open(os.path.join(proj, "train.py"), "w") as f:
            f.write(TRAIN_PY)
        env = dict(os.environ, GUILD_HOME=home)
        guild = [sys.executable, "-m", "luigi_guild"]
        for lr, epochs in ((0.05, 12), (0.1, 12), (0.2, 8), (0.4, 10)):
            subprocess.run(guild + ["run", "train.py", "lr=%s" % lr, "epochs=%d" % epochs, "-y"],
                           cwd=proj, env=env, check=True, stdout=subprocess.DEVNULL)
        view = subprocess.Popen(guild + ["view", "-n"], cwd=proj, env=env, stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            assert view.stdout is not None
            m = re.search(r"(http://\S+)", view.stdout.readline())
            assert m, "guild view did not start"
            opts = webdriver.ChromeOptions()
            opts.binary_location = "/usr/bin/chromium"
            for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                        "--hide-scrollbars"):
                opts.add_argument(arg)
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
            try:
                driver.get(m.group(1) + "/")
                _wait(lambda: driver.execute_script("return document.body.dataset.ready === '1'"))
                driver.execute_script("document.getElementById('select-all').click()")
                _wait(lambda: driver.execute_script("return Object.keys(window.viewCharts || {}).length === 2"))
                time.sleep(0.3)
                driver.save_screenshot(out)
            finally:
                driver.quit()
        finally:
            os.kill(view.pid, signal.SIGINT)
            view.wait(timeout=20)
    print("Wrote %s" % out)


def _wait(pred: object, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while not pred():  # type: ignore[operator]
        if time.time() > deadline:
            raise SystemExit("timed out waiting for the page")
        time.sleep(0.1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "view.png"))
