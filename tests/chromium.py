"""Headless Chromium driven over the DevTools protocol, with nothing but the standard library.

Chromium's ``--remote-debugging-pipe`` talks JSON messages ending in NUL on file descriptors
3 (commands in) and 4 (answers and events out): no port to pick, no websocket client, no
chromedriver, and nothing downloaded at run time.  Every wait has a deadline.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

TIMEOUT = 15.0

# Root in a container needs --no-sandbox; the rest keep Chromium off the network (which is
# closed here) so that every request it makes is one the page asked for.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-default-browser-check", "--disable-extensions", "--disable-default-apps",
         "--disable-features=Translate,MediaRouter,OptimizationHints", "--mute-audio",
         "--hide-scrollbars", "--remote-debugging-pipe"]


def find_binary() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class ProtocolError(RuntimeError):
    pass


class Browser:
    def __init__(self, binary: str, profile: Path):
        commands_r, self._commands = os.pipe()
        self._answers, answers_w = os.pipe()
        # Moved above 4 first: dup2 onto a descriptor's own number would keep it close-on-exec.
        child_r = fcntl.fcntl(commands_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(answers_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(commands_r)
        os.close(answers_w)

        def wire() -> None:
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     # only dup2 runs between fork and exec: no lock to deadlock on
                                     preexec_fn=wire, close_fds=False,  # noqa: PLW1509 stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(child_r)
        os.close(child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.call("Browser.getVersion")

    def call(self, method: str, session: str | None = None, timeout: float = TIMEOUT, **params) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._commands, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for reply in self._read(deadline, method):
                if reply.get("id") == msg["id"]:
                    if "error" in reply:
                        raise ProtocolError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
                self.events.append(reply)

    def wait_for(self, method: str, session: str | None = None, timeout: float = TIMEOUT,
                 start: int = 0) -> dict:
        """The first event `method` (of `session`) at or after index `start` of `events`."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events[start:]:
                if ev.get("method") == method and (session is None or ev.get("sessionId") == session):
                    return ev
            start = len(self.events)
            self.events.extend(self._read(deadline, method))

    def _read(self, deadline: float, waiting_for: str) -> list[dict]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._answers], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError(f"chromium: no {waiting_for} in time")
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise ProtocolError(f"chromium exited (status {self.proc.poll()}) while waiting for {waiting_for}")
            self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\0")
        return [json.loads(m) for m in complete]

    def new_tab(self) -> Tab:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        return Tab(self, target, session)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self._commands)
        os.close(self._answers)


class Tab:
    def __init__(self, browser: Browser, target: str, session: str):
        self.browser, self.target, self.session = browser, target, session
        self.first_event = len(browser.events)
        self.call("Page.enable")
        self.call("Network.enable")

    def call(self, method: str, **params) -> dict:
        return self.browser.call(method, self.session, **params)

    def emulate(self, width: int, height: int, scheme: str = "light", scripts: bool = True,
                timezone: str | None = None) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 600)
        self.call("Emulation.setEmulatedMedia",
                  features=[{"name": "prefers-color-scheme", "value": scheme}])
        self.call("Emulation.setScriptExecutionDisabled", value=not scripts)
        if timezone:
            self.call("Emulation.setTimezoneOverride", timezoneId=timezone)

    def goto(self, url: str) -> None:
        start = len(self.browser.events)
        self.call("Page.navigate", url=url)
        self.browser.wait_for("Page.loadEventFired", self.session, start=start)

    def evaluate(self, expression: str):
        """The value of `expression`; runs even where the page's own scripts are disabled."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise ProtocolError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def requests(self) -> list[dict]:
        """Every request this tab sent, as Network.requestWillBeSent parameters."""
        return [ev["params"] for ev in self.browser.events[self.first_event:]
                if ev.get("sessionId") == self.session and ev.get("method") == "Network.requestWillBeSent"]

    def responses(self) -> list[dict]:
        return [ev["params"]["response"] for ev in self.browser.events[self.first_event:]
                if ev.get("sessionId") == self.session and ev.get("method") == "Network.responseReceived"]

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.browser.call("Target.closeTarget", targetId=self.target)
