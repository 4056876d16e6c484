#!/usr/bin/python3
"""The operator console in a real headless browser (Chromium through Selenium).

A campaign runs on a simulated instrument while `labloop console` shows it: the page must show
the campaign and follow it live (the experiment count grows without a reload), open its detail
(the experiments table and the convergence plot) on a click, say when the console has gone, and
show a folder name full of markup as text, never running it. A second campaign runs on a manual
instrument: without the console's key the page shows the `labloop enter` command; with it, a
person enters results in a form (a value out of range is refused with the reason, what is typed
survives the page's refreshes), and the running campaign records them; then the operator stops
it from the page. A third runs on an instrument reached over TCP that goes silent: its card says so.

    /usr/bin/python3 tests/browser/console_test.py LABLOOP SOURCE_DIR    (labloop-sim beside LABLOOP)

Exit 0 when every check passed, 1 otherwise. Every wait is bounded.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
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


def raw_request(url: str, head: str) -> tuple[int, str, str]:
    """Sends `head` (a request line and headers, CRLF-separated, no blank line) as it is, with
    Connection: close; returns the status, the headers and the body as sent on the wire."""
    host, port = re.match(r"http://([^:/]+):(\d+)/", url).groups()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall((head + "\r\nConnection: close\r\n\r\n").encode())
        data = b""
        # The first answer only: after a request line it does not know, httplib reads the headers
        # that follow as further requests.
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < int(
                (re.search(rb"\r\nContent-Length: (\d+)", data.partition(b"\r\n\r\n")[0]) or [b"", b"0"])[1]):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    headers, _, body = data.decode("utf-8", "replace").partition("\r\n\r\n")
    length = re.search(r"\r\nContent-Length: (\d+)", headers)
    return int(headers.split(" ", 2)[1]), headers, body[:int(length.group(1))] if length else body


def check_refusals_on_the_wire(url: str) -> None:
    """What the HTTP server refuses before the site sees it: the status docs/console.md names, and
    the whole JSON error (httplib cut a 416 to the Range it refused: `{"`)."""
    host = re.match(r"http://([^/]+)/", url).group(1)
    for head, status in ((f"GET /api/campaigns HTTP/1.1\r\nHost: {host}\r\nRange: bytes=0-1", 416),
                         (f"GET /api/campaigns HTTP/1.1\r\nHost: {host}\r\nRange: bytes=0-0,1-1", 416),
                         (f"GET /api/campaigns HTTP/1.1\r\nHost: {host}\r\nRange: pages=x", 416),
                         (f"TRACE / HTTP/1.1\r\nHost: {host}", 405),
                         (f"CONNECT {host} HTTP/1.1\r\nHost: {host}", 405),
                         (f"FOO / HTTP/1.1\r\nHost: {host}", 405),
                         (f"GET /api/campaigns HTTP/1.1\r\nHost: {host}\r\nHost: evil.example", 400),
                         (f"POST /api/campaigns/0/stop HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nContent-Length: 2", 400),
                         (f"GET /api/campaigns HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\norigin: http://evil.example", 400),
                         (f"POST /api/campaigns/0/stop HTTP/1.1\r\nHost: {host}\r\nX-Labloop-Key: a\r\nX-Labloop-Key: b\r\n"
                          "Content-Length: 0", 400)):
        got, headers, body = raw_request(url, head)
        try:
            error = json.loads(body).get("error")
        except ValueError:
            error = None
        check(got == status and bool(error) and "multipart" not in headers,
              f"{head.splitlines()[0]!r} ({head.splitlines()[-1]!r}) is answered {status} with the whole JSON error ({got}, {body!r})")
    got, headers, _ = raw_request(url, f"HEAD /api/campaigns HTTP/1.1\r\nHost: {host}")
    check(got == 200 and "Accept-Ranges: bytes" not in headers, f"HEAD does not offer ranges ({headers!r})")


def start_campaign(labloop: str, work: str, config: dict, folder_name: str, procs: list) -> str:
    """`labloop run` of `config` into work/folder_name, its output in work/<name>.log; the folder."""
    path = os.path.join(work, config["name"] + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    folder = os.path.join(work, folder_name)
    procs.append(subprocess.Popen([labloop, "run", path, "--output", folder],
                                  stdout=open(os.path.join(work, config["name"] + ".log"), "wb"), stderr=subprocess.STDOUT))
    return folder


def journal_events(folder: str) -> list[dict]:
    with open(os.path.join(folder, "journal.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def form_experiment(browser) -> str | None:
    return browser.execute_script("const f = document.querySelector('#waiting-forms form.entry'); return f ? f.dataset.experiment : null")


def enter_results(browser, url: str, console_text: str, folder: str) -> None:
    """The manual campaign's two experiments, entered at the page as a person would."""
    browser.execute_script("window.location.hash = '#campaign-2'")
    command = wait_for(lambda: browser.execute_script(
        "const c = document.querySelector('#waiting-forms code.command'); return c ? c.textContent : null"), 20)
    check(command is not None and command.startswith("labloop enter " + folder + " by_hand-") and "yield=VALUE [purity=VALUE]" in command,
          f"without the console's key the page gives the command instead of a form ({command!r})")

    key = re.search(r"#key=([0-9a-f]{32})", console_text)
    check(key is not None, "the console printed the address with its key")
    if key is None:
        return
    browser.get(url + "#key=" + key.group(1))
    check(wait_for(lambda: browser.execute_script("return window.location.hash === '' && localStorage.getItem('labloop-console-key')"), 10)
          == key.group(1), "the page keeps the key and takes it off the address bar")
    browser.execute_script("window.location.hash = '#campaign-2'")
    first = wait_for(lambda: browser.execute_script(
        "const f = document.querySelector('#waiting-forms form.entry input[data-output=\"yield\"]'); return f ? f.form.dataset.experiment : null"), 20)
    check(first is not None, f"with it, a form for the experiment waiting ({first})")
    if first is None:
        return
    form = f"#waiting-forms form.entry[data-experiment='{first}']"
    shown = browser.execute_script(f"return [...document.querySelectorAll(\"{form} label\")].map((l) => l.textContent)"
                                   "  .concat([...document.querySelectorAll('#experiments thead th')].map((t) => t.textContent))")
    check("purity [\\u202egm\\u202c]" in shown and "t [\\u202eC\\u202c]" in shown and not any("\u202e" in t for t in shown),
          f"a unit's bidirectional override is shown escaped, as labloop pending writes it ({shown})")
    name = browser.find_element(By.ID, "entry-by")
    name.clear()
    name.send_keys("Ann Example")
    yield_input = browser.find_element(By.CSS_SELECTOR, form + " input[data-output='yield']")
    yield_input.send_keys("715")
    time.sleep(2.5)  # at least one refresh of the page
    check(browser.find_element(By.CSS_SELECTOR, form + " input[data-output='yield']").get_attribute("value") == "715",
          "what is typed survives the page's refreshes")
    browser.find_element(By.CSS_SELECTOR, form + " button.enter").click()
    refusal = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, form + " .entry-status").text
                       if "refused" in browser.find_element(By.CSS_SELECTOR, form + " .entry-status").text else None, 10)
    check(refusal is not None and "yield = 715 is above its declared range (high 100 %)" in refusal, f"a value out of range is refused, saying why ({refusal!r})")
    check(not os.path.exists(os.path.join(folder, "inbox", first + ".json")), "and nothing is saved")

    yield_input = browser.find_element(By.CSS_SELECTOR, form + " input[data-output='yield']")
    yield_input.clear()
    yield_input.click()
    # A key every 0.7 s, as a person types, across the page's refreshes: none may be lost (a
    # refresh that took the focus away once turned 71.5 into 7).
    for key in "71.5":
        browser.switch_to.active_element.send_keys(key)
        time.sleep(0.7)
    typed = browser.find_element(By.CSS_SELECTOR, form + " input[data-output='yield']").get_attribute("value")
    check(typed == "71.5", f"keys typed slowly across refreshes all reach the field ({typed!r})")
    browser.find_element(By.CSS_SELECTOR, form + " input[data-output='purity']").send_keys("93")
    browser.find_element(By.CSS_SELECTOR, form + " button.enter").click()
    recorded = wait_for(lambda: [e for e in journal_events(folder) if e["event"] == "result" and e["experiment"] == first], 20)
    check(bool(recorded) and recorded[0]["values"] == {"yield": 71.5, "purity": 93.0},
          f"the running campaign records the entered result ({recorded[0]['values'] if recorded else None})")
    with open(os.path.join(folder, "inbox", first + ".json")) as f:
        entry = json.load(f)
    check(entry["by"] == "Ann Example" and entry["source"] == "console", f"with who entered it, from the console ({entry})")
    log = wait_for(lambda: browser.execute_script("return document.getElementById('entered-log').textContent"), 5)
    check(log is not None and first in log and "yield = 71.5" in log, f"the page lists what was entered ({log!r})")

    second = wait_for(lambda: (lambda x: x if x and x != first else None)(form_experiment(browser)), 20)
    check(second is not None, f"the next experiment's form appears on its own ({second})")
    if second is None:
        return
    form = f"#waiting-forms form.entry[data-experiment='{second}']"
    browser.find_element(By.CSS_SELECTOR, form + " input[data-failed]").send_keys("no product (TLC)")
    browser.find_element(By.CSS_SELECTOR, form + " button.fail").click()
    failed = wait_for(lambda: [e for e in journal_events(folder) if e["event"] == "failed" and e["experiment"] == second], 20)
    check(bool(failed) and "no product (TLC)" in failed[0]["error"], f"a failure entered at the page is recorded with its reason ({failed[:1]})")

    # The third waits for the person; the operator stops the campaign from the page instead.
    third = wait_for(lambda: (lambda x: x if x and x not in (first, second) else None)(form_experiment(browser)), 20)
    check(third is not None, f"the third experiment waits for the person ({third})")
    browser.find_element(By.ID, "stop-open").click()
    browser.find_element(By.ID, "stop-reason").send_keys("reagent ran out")
    browser.find_element(By.ID, "stop-yes").click()
    done = wait_for(lambda: browser.execute_script(
        "const c = document.querySelectorAll('#campaigns li.campaign .phase'); "
        "return c.length === 4 && c[2].textContent.startsWith('finished') ? c[2].textContent : null"), 20)
    check(done is not None and done.startswith("finished: stopped by operator"), f"Stop on the page stops the campaign as Ctrl-C would ({done!r})")
    events = journal_events(folder)
    asked = [e for e in events if e["event"] == "stop_requested"]
    check(len(asked) == 1 and asked[0]["by"] == "Ann Example" and asked[0]["reason"] == "reagent ran out" and asked[0]["source"] == "console",
          f"the journal says who asked and why ({asked})")
    outcomes = {e["experiment"] for e in events if e["event"] in ("result", "failed")}
    check(third not in outcomes, "and the experiment waiting for the person stays open")
    check(bool(wait_for(lambda: browser.execute_script("return document.getElementById('stop-panel').hidden"), 10)), "a stopped campaign offers no Stop")
    card_says = wait_for(lambda: browser.execute_script(
        "const c = document.querySelectorAll('#campaigns li.campaign')[2]; const a = c && c.querySelector('.asked'); return a ? a.textContent : null"), 10)
    check(card_says == "asked from the console by Ann Example: reagent ran out", f"and its card says who asked and why ({card_says!r})")
    marker = open(os.path.join(folder, "stop-request.json")).read() if os.path.exists(os.path.join(folder, "stop-request.json")) else ""
    check('"closed"' in marker, f"its last look closed the path: a Stop now is refused, not lost ({marker!r})")


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
        # Its output folder's name is markup: the page must show it as text.
        folder = start_campaign(labloop, work, config, '<img src=x onerror="window.pwned=1">', procs)
        check(wait_for(lambda: os.path.exists(os.path.join(folder, "journal.jsonl")), 30) is not None, "the campaign started")

        # A campaign of three experiments run by a person.
        by_hand = {"name": "by_hand", "seed": 2,
                   # Units holding a right-to-left override: shown escaped, as labloop pending writes them.
                   "parameters": [{"name": "t", "type": "continuous", "low": 40, "high": 100, "unit": "\u202eC\u202c"}],
                   "objective": {"name": "yield", "goal": "maximize"},
                   "outputs": [{"name": "yield", "unit": "%", "low": 0, "high": 100},
                               {"name": "purity", "unit": "\u202egm\u202c", "low": 0, "high": 100}],
                   "planner": {"kind": "random"}, "instruments": [{"name": "chemist", "manual": True}],
                   "budget": {"experiments": 3}}
        manual_folder = start_campaign(labloop, work, by_hand, "by_hand", procs)
        check(wait_for(lambda: os.path.exists(os.path.join(manual_folder, "journal.jsonl")), 30) is not None, "the manual campaign started")

        # A campaign on an instrument reached over TCP (labloop-sim started here), to be lost later.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        sim = subprocess.Popen([os.path.join(os.path.dirname(labloop), "labloop-sim"), "-f", "branin", "--endpoint", f"tcp://127.0.0.1:{port}",
                                "--delay", "0.3"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        procs.append(sim)
        remote = {"name": "remote", "seed": 1,
                  "parameters": [{"name": "x1", "type": "continuous", "low": -5, "high": 10},
                                 {"name": "x2", "type": "continuous", "low": 0, "high": 15}],
                  "objective": {"name": "y"}, "planner": {"kind": "random"},
                  "instruments": [{"name": "robot", "endpoint": f"tcp://127.0.0.1:{port}", "heartbeat_s": 0.3, "heartbeat_misses": 2}],
                  "budget": {"experiments": 1000}}
        remote_folder = start_campaign(labloop, work, remote, "remote", procs)

        console_out = os.path.join(work, "console.out")
        console = subprocess.Popen([labloop, "console", folder, goals, manual_folder, remote_folder, "--listen", "127.0.0.1:0"],
                                   stdout=open(console_out, "wb"), stderr=subprocess.STDOUT)
        procs.append(console)
        url = wait_for(lambda: (re.search(r"http://127\.0\.0\.1:\d+/", open(console_out).read()) or [None])[0], 10)
        check(url is not None, f"labloop console printed its address ({url})")
        if url is None:
            return 1
        check_refusals_on_the_wire(url)

        options = Options()
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
            options.add_argument(arg)
        options.binary_location = "/usr/bin/chromium"
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # Chromium leaves a scoped directory in $TMPDIR behind each run: this one goes with `work`.
        os.environ["TMPDIR"] = work
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
            "const c = document.querySelectorAll('#campaigns li.campaign'); return c.length === 4 ? [...c].map((e) => e.innerText) : null"))
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
        instruments = wait_for(lambda: browser.execute_script(
            "return [...document.querySelectorAll('#instruments tbody tr td')].slice(0, 4).map((t) => t.textContent)"), 10)
        check(bool(instruments) and instruments[:2] == ["sim", "ready"] and instruments[2].startswith("labloop-sim "),
              f"the instruments table shows the simulator ready ({instruments})")
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
        # Every number as results.csv writes it (every digit, the same text), not rounded. The table
        # is drawn again at the page's next refresh once the journal moves: the card may say
        # "finished" a refresh before the table has the last result (CI saw its y still empty).
        with open(os.path.join(folder, "results.csv"), newline="") as f:
            written = {r["experiment"]: [r["x1"], r["x2"], r["y"]] for r in csv.DictReader(f)}

        def table_differing() -> tuple[int, list]:
            table = browser.execute_script(
                "const names = [...document.querySelectorAll('#experiments thead th')].map((t) => t.textContent);"
                "return [...document.querySelectorAll('#experiments tbody tr')].map((tr) => {"
                "  const cells = [...tr.children].map((td) => td.textContent);"
                "  return [cells[0], cells[names.indexOf('x1')], cells[names.indexOf('x2')], cells[names.indexOf('y')]]; })")
            return len(table), [row for row in table if written.get(row[0]) != row[1:]]

        wait_for(lambda: table_differing() == (24, []), 10)
        rows, differing = table_differing()
        check(rows == 24 and not differing, f"the table shows the values as results.csv has them ({differing[:2]})")
        # Nothing changes in a finished campaign: the table is not drawn again at each refresh (a
        # wide one, redrawn every two seconds, held the page). A row marked now stays the same row.
        browser.execute_script("document.querySelector('#experiments tbody tr').dataset.mark = 'kept'")
        seen = set()
        wait_for(lambda: seen.add(browser.find_element(By.ID, "connection").text) or len(seen) >= 3, 10)
        kept = browser.execute_script("const r = document.querySelector('#experiments tbody tr'); return r ? r.dataset.mark || null : null")
        check(len(seen) >= 3 and kept == "kept", f"an unchanged table is not drawn again at the next refreshes ({len(seen)} refreshes, {kept!r})")
        shown = browser.execute_script(
            "return parseJson('[9007199254740993, -9007199254740995, 1.2345678901234567e+19, -0.0, 0.1, 1e-05, 0.0001, 1e+16, 3.0, 5e-324, 1e+300]').map(number)")
        check(shown == ["9007199254740993", "-9007199254740995", "1.2345678901234567e+19", "-0", "0.1", "1e-05", "0.0001", "1e+16", "3", "5e-324",
                        "1e+300"], f"numbers are written as results.csv writes them ({shown})")
        quoted = browser.execute_script("return [shellWord('my runs;echo INJECTED'), shellWord(\"it's\"), shellWord('runs/a-1')]")
        check(quoted == ["'my runs;echo INJECTED'", "'it'\\''s'", "runs/a-1"], f"commands are shell-quoted where needed ({quoted})")

        # The campaign of two objectives, chosen: its Pareto front is drawn beside its convergence plot.
        browser.execute_script("window.location.hash = '#campaign-1'")
        front = wait_for(lambda: browser.execute_script(
            "const i = document.getElementById('pareto'); return !i.hidden && i.complete && i.naturalWidth > 0 && i.src.includes('/1/pareto.svg')"), 20)
        check(bool(front), "a campaign of two objectives shows its Pareto front")

        enter_results(browser, url, open(console_out).read(), manual_folder)
        check(browser.execute_script("return document.getElementById('pareto').hidden"), "one of one objective shows none")

        # The remote instrument goes silent: its campaign's card says so.
        sim.kill()
        trouble = wait_for(lambda: browser.execute_script(
            "const c = document.querySelectorAll('#campaigns li.campaign')[3]; const t = c && c.querySelector('.trouble'); return t ? t.textContent : null"), 20)
        check(trouble is not None and trouble.startswith("robot lost since ") and "no answer" in trouble,
              f"an instrument that went silent shows on its campaign's card ({trouble!r})")

        # The refused entry's 422 is logged by the browser as a failed load: that one was asked for.
        severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"
                  and not ("/entries" in e.get("message", "") and "status of 422" in e.get("message", ""))]
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
