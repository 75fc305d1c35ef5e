"""Playwright (Python) driving Debian's Chromium, headless, for the browser tests.

Each page a test visits is screenshotted under artifacts/screenshots/ and
checked for Content-Security-Policy violations (the browser's own
`securitypolicyviolation` events and console errors)."""

import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("DUSK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"  # the persona fixtures' password

# Runs before any page script; Playwright injects it outside the page's CSP.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the
    # tests make in between are ordinary synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Session:
    """One person's browser context, recording CSP violations on every page."""

    def __init__(self, browser, base_url: str, name: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        self.context.add_init_script(RECORD_VIOLATIONS)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.base_url = base_url
        self.name = name
        self.violations: list[str] = []
        self.console_errors: list[str] = []
        self.page.on("console", self._console)

    def _console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)
            if re.search(r"Content Security Policy", message.text, re.I):
                self.violations.append(message.text)

    def goto(self, path: str):
        self.page.goto(self.base_url + path)
        return self.page

    def login(self, username: str, password: str = PASSWORD) -> None:
        page = self.goto("/accounts/login/")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_label("Password").press("Enter")
        page.wait_for_url(re.compile(r".*/$"))

    def check_csp(self) -> None:
        found = self.page.evaluate("window.__cspViolations || []")
        self.violations.extend(v for v in found if v not in self.violations)

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        """Screenshot the current page and collect its CSP violations."""
        self.check_csp()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self) -> None:
        self.check_csp()
        self.context.close()


@pytest.fixture
def browse(chromium, live_server):
    """browse(name) -> a fresh Session; all are closed and checked at the end."""
    sessions: list[Session] = []

    def start(name: str) -> Session:
        session = Session(chromium, live_server.url, name)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()
    # A missing file (stylesheet, script, icon) shows in the console as a 404; a form answered
    # with 4xx by design (htmx swaps a 422) is not a missing file.
    missing = [f"{s.name}: {e}" for s in sessions for e in s.console_errors if "status of 404" in e]
    assert not missing, missing
