"""Playwright (Python) driving Debian's Chromium, headless, for the browser tests.

Each page a test visits is screenshotted under artifacts/screenshots/ and
checked for Content-Security-Policy violations (the browser's own
`securitypolicyviolation` events and console errors). The fixtures `chromium` and `browse`
are in channels_app/tests/conftest.py."""

import os
import re
from pathlib import Path

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
SCREENSHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"  # the persona fixtures' password

# Runs before any page script; Playwright injects it outside the page's CSP.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


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
