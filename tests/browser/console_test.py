#!/usr/bin/python3
"""The operator console in a real headless browser (Chromium through Selenium).

A campaign runs on a simulated instrument while `labloop console` shows it: the page must show
the campaign and follow it live (the experiment count grows without a reload), open its detail
(the experiments table and the convergence plot) on a click, say when the console has gone, and
show a folder name full of markup as text, never running it.

    /usr/bin/python3 tests/browser/console_test.py LABLOOP SOURCE_DIR    (labloop-sim beside LABLOOP)

Exit 0 when every check passed, 1 otherwise. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

failures: list[str] = []


def check(cond: bool, what: str) -> None:
    print(("  ok   " if cond else "  FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def wait_for(predicate, timeout: float = 20.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # the page is redrawn every two seconds: an element may go under us
            pass
        time.sleep(every)
    return None


def main() -> int:
    labloop, source = sys.argv[1], sys.argv[2]
    # A finished campaign of two objectives, as labloop 0.2.0 wrote it, shown beside the live one.
    goals = os.path.join(source, "tests", "fixtures", "v0.2.0", "goals")
    work = tempfile.mkdtemp(prefix="llbrowser-")
    procs: list[subprocess.Popen] = []
    browser = None
    try:
        # A campaign slow enough to watch: 24 experiments of 0.4 s on a simulated Branin.
        config = {"name": "browser_watch", "seed": 1,
                  "parameters": [{"name": "x1", "type": "continuous", "low": -5, "high": 10},
                                 {"name": "x2", "type": "continuous", "low": 0, "high": 15}],
                  "objective": {"name": "y"}, "planner": {"kind": "random"},
                  "instruments": [{"name": "sim", "simulator": "branin", "options": {"delay": 0.4}}],
                  "budget": {"experiments": 24}}
        with open(os.path.join(work, "c.json"), "w") as f:
            json.dump(config, f)
        # Its output folder's name is markup: the page must show it as text.
        folder = os.path.join(work, '<img src=x onerror="window.pwned=1">')
        run_log = open(os.path.join(work, "run.log"), "wb")
        procs.append(subprocess.Popen([labloop, "run", os.path.join(work, "c.json"), "--output", folder],
                                      stdout=run_log, stderr=subprocess.STDOUT))
        check(wait_for(lambda: os.path.exists(os.path.join(folder, "journal.jsonl")), 30) is not None, "the campaign started")

        console_out = os.path.join(work, "console.out")
        console = subprocess.Popen([labloop, "console", folder, goals, "--listen", "127.0.0.1:0"],
                                   stdout=open(console_out, "wb"), stderr=subprocess.STDOUT)
        procs.append(console)
        url = wait_for(lambda: (re.search(r"http://127\.0\.0\.1:\d+/", open(console_out).read()) or [None])[0], 10)
        check(url is not None, f"labloop console printed its address ({url})")
        if url is None:
            return 1

        options = Options()
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
            options.add_argument(arg)
        options.binary_location = "/usr/bin/chromium"
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        browser.set_page_load_timeout(20)
        browser.get(url)

        title = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#campaigns li.campaign:first-child h2").text)
        check(title is not None and title.startswith("browser_watch"), f"the campaign's card shows its name ({title!r})")
        phase = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#campaigns li.campaign:first-child .phase").text)
        check(phase is not None and phase.startswith("running"), f"and that it runs ({phase!r})")
        shown = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#campaigns li.campaign:first-child .folder").text)
        check(shown is not None and shown.endswith('<img src=x onerror="window.pwned=1">'), f"the folder's name is shown as text ({shown!r})")
        check(browser.execute_script("return window.pwned === undefined && document.querySelectorAll('img[src=\"x\"]').length === 0"),
              "and its markup never ran: no such image, nothing set")

        cards = wait_for(lambda: browser.execute_script(
            "const c = document.querySelectorAll('#campaigns li.campaign'); return c.length === 2 ? [...c].map((e) => e.innerText) : null"))
        pareto = cards[1] if cards else ""
        check(re.search(r"Pareto set: \d+ results?", pareto) is not None and "finished" in pareto,
              f"a finished campaign of two objectives beside it shows its Pareto set ({pareto!r})")

        def used() -> int:
            text = browser.find_element(By.CSS_SELECTOR, "#campaigns li.campaign:first-child .used").text
            return int(text.split(" ", 1)[0])

        first = wait_for(used, 20)
        later = wait_for(lambda: used() >= (first or 0) + 3 and used(), 30)
        check(first is not None and later is not None, f"the page follows the campaign without a reload ({first} → {later} experiments used)")

        # The first campaign is shown in detail: its experiments, newest first, and its plot.
        rows = wait_for(lambda: browser.execute_script("return document.querySelectorAll('#experiments tbody tr').length >= 3"), 20)
        check(rows is not None, "the experiments table lists them")
        # Read in one script: the page redraws every two seconds, and an element found in one call
        # may be gone by the next (a stale element).
        headings = browser.execute_script("return [...document.querySelectorAll('#experiments thead th')].map((t) => t.textContent)")
        check(headings[:5] == ["experiment", "status", "instrument", "x1", "x2"] and "y" in headings, f"with a column each ({headings})")
        plot_loaded = wait_for(lambda: browser.execute_script(
            "const i = document.getElementById('convergence'); return i.complete && i.naturalWidth > 0"), 20)
        check(bool(plot_loaded), "the convergence plot is drawn")

        # The campaign ends; the page says so without a reload.
        finished = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#campaigns li.campaign:first-child .phase").text.startswith("finished"), 60)
        check(bool(finished), "the end of the campaign appears on its own")
        count = wait_for(lambda: browser.execute_script("return document.querySelectorAll('#experiments tbody tr').length === 24"), 10)
        check(bool(count), "all 24 experiments are listed")
        best_rows = browser.execute_script("return document.querySelectorAll('#experiments tbody tr.best').length")
        check(best_rows == 1, "the best one is marked")

        severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
        check(not severe, f"no errors in the browser's console ({severe[:3]})")

        # The console goes away: the page says the connection is lost instead of going stale.
        console.terminate()
        check(console.wait(10) == 0, "labloop console stops on SIGTERM with status 0")
        lost = wait_for(lambda: "connection lost" in browser.find_element(By.ID, "connection").text, 10)
        check(bool(lost), "the page says the connection is lost")
    finally:
        if browser is not None:
            browser.quit()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed" if failures else "every check passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
