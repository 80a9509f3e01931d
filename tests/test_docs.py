"""The documentation: the site builds with ``mkdocs build --strict``, and the README's and the guides' snippets run.

Every ``bash`` and ``python`` block of the README, ``docs/getting-started.md`` and ``docs/guides/*.md`` carries a
mark on the line before it: ``<!-- test: run -->`` (run here, in order, as one terminal session would run them, in
a scratch checkout with ``../shared`` beside it) or ``<!-- test: skip: why -->`` (it needs a server, PostgreSQL,
Ray or a long run). An unmarked block fails, so a new snippet is either tested or says why not.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED

#: The files whose snippets are checked: the front door and the guides.
SNIPPET_FILES = [ROOT / "README.md", ROOT / "docs" / "getting-started.md",
                 *sorted((ROOT / "docs" / "guides").glob("*.md"))]
#: Languages whose blocks must be marked (others, such as text, nginx or sample output, are not commands).
RUNNABLE = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python", "py": "python"}
MARK = re.compile(r"^<!--\s*test:\s*(run|skip)\s*(?::\s*(.*?))?\s*-->$")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
SNIPPET_TIMEOUT_S = 300


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str  # "bash" or "python"
    code: str
    mark: str | None  # "run", "skip" or None (unmarked)
    reason: str

    def where(self) -> str:
        try:
            shown = self.path.relative_to(ROOT)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"


def snippets(path: Path) -> list[Snippet]:
    """The bash and python blocks of a markdown file, with the mark on the line before each."""
    lines = path.read_text().splitlines()
    found: list[Snippet] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, lang = opening.group(1), opening.group(2).lower()
        end = i + 1
        while end < len(lines) and not lines[end].startswith(fence):
            end += 1
        if lang in RUNNABLE:
            before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            mark = MARK.match(before)
            found.append(Snippet(path, i + 1, RUNNABLE[lang], "\n".join(lines[i + 1:end]) + "\n",
                                 mark.group(1) if mark else None, (mark.group(2) or "") if mark else ""))
        i = end + 1
    return found


def unmarked(path: Path) -> list[str]:
    """What is wrong with the marks of a file: blocks without one, skips without a reason."""
    problems = []
    for snippet in snippets(path):
        if snippet.mark is None:
            problems.append(f"{snippet.where()}: a {snippet.lang} block without <!-- test: run --> or "
                            "<!-- test: skip: why -->")
        elif snippet.mark == "skip" and not snippet.reason:
            problems.append(f"{snippet.where()}: <!-- test: skip --> without a reason")
    return problems


class Session:
    """One terminal session in a scratch checkout: variables exported and `cd` done by a bash block carry over
    to the blocks after it, python blocks included."""

    def __init__(self, home: Path) -> None:
        self.checkout = home / "checkout"
        self.checkout.mkdir(parents=True)
        shared = home / "shared"
        if not shared.exists():
            shared.symlink_to(SHARED.resolve(), target_is_directory=True)
        venv = ROOT / ".venv"
        if venv.is_dir():
            (self.checkout / ".venv").symlink_to(venv, target_is_directory=True)
        self.state = home / "session"
        self.state.mkdir()
        self.cwd = self.checkout
        # a data folder of its own (its default gallery), which shares the run's records of the files facerec
        # made in the run's cache (a user has one data folder beside one cache)
        from facerec.runtime import made_records_dir

        made = home / "data" / "facerec" / "made"
        made.parent.mkdir(parents=True, exist_ok=True)
        made_records_dir().mkdir(parents=True, exist_ok=True)
        made.symlink_to(made_records_dir().resolve(), target_is_directory=True)
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_DATA_HOME": str(home / "data"),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.env.pop("FACEREC_DB", None)
        self.env.pop("FACEREC_VECTORS", None)

    def run(self, snippet: Snippet) -> subprocess.CompletedProcess[str]:
        if snippet.lang == "python":
            return subprocess.run([sys.executable, "-c", snippet.code], cwd=self.cwd, env=self.env,
                                  capture_output=True, text=True, timeout=SNIPPET_TIMEOUT_S)
        env_file, cwd_file = self.state / "env", self.state / "cwd"
        script = (f"set -eo pipefail\n{snippet.code}\n"
                  f"env -0 > '{env_file}'\npwd > '{cwd_file}'\n")
        done = subprocess.run(["bash", "-c", script], cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=SNIPPET_TIMEOUT_S)
        if done.returncode == 0:
            pairs = (item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item)
            self.env = {key: value for key, value in pairs if not key.startswith("BASH_FUNC_")}
            self.env.pop("PWD", None)
            self.cwd = Path(cwd_file.read_text().strip())
        return done


def run_snippets(path: Path, home: Path) -> tuple[list[Snippet], list[Snippet]]:
    """Run the marked blocks of ``path`` in order; an AssertionError names the first that fails. Returns the
    blocks run and the blocks skipped."""
    problems = unmarked(path)
    assert not problems, "\n".join(problems)
    session = Session(home)
    ran, skipped = [], []
    for snippet in snippets(path):
        if snippet.mark == "skip":
            skipped.append(snippet)
            continue
        done = session.run(snippet)
        output = (done.stdout + done.stderr)[-3000:]
        assert done.returncode == 0, (f"{snippet.where()}: the {snippet.lang} block failed (exit "
                                      f"{done.returncode})\n{snippet.code}--- output ---\n{output}")
        ran.append(snippet)
    return ran, skipped


# --- the site -----------------------------------------------------------------------------------------------------

def test_the_site_builds_strict_offline_with_generated_references(tmp_path):
    """`mkdocs build --strict`: no broken link or anchor, no page left out, every `:::` reference resolved; the CLI
    and API pages are generated from the code; no page asks for web fonts (the site reads offline)."""
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(site)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    cli = (site / "reference" / "cli" / "index.html").read_text()
    for command in ("facerec-verify", "facerec-enroll", "facerec-identify", "facerec-serve", "facerec-zoo-summary"):
        assert f'id="{command}"' in cli, f"the CLI reference has no {command}"
    assert "--from-dir" in cli and "--top-k" in cli
    # click 8.2+ leaves an option without a default UNSET; the table shows what the command gets instead
    assert "Sentinel" not in cli and "UNSET" not in cli, "the CLI reference shows click's UNSET sentinel"
    assert re.search(r"<code>--no-flip</code></td>\s*<td>boolean</td>\s*<td>[^<]*</td>\s*<td><code>False</code>",
                     cli), "the CLI reference does not show --no-flip's default as False"
    assert "DeprecationWarning" not in done.stderr, done.stderr[-4000:]
    api = (site / "reference" / "api" / "index.html").read_text()
    for name in ("facerec.config.PipelineConfig", "facerec.recognizer.FaceRecognizer.verify",
                 "facerec.gallery.Gallery.identify"):
        assert f'id="{name}"' in api, f"the API reference has no {name}"
    pages = list(site.rglob("*.html"))
    assert len(pages) > 30
    assert not [p for p in pages if "fonts.googleapis.com" in p.read_text()]


def test_the_readme_links_into_the_docs_resolve():
    """The README is not part of the site, so mkdocs does not check its links: every relative link must name a
    file that exists, and an anchor one of its headings (as MkDocs and GitHub make them)."""
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(local) > 10
    for link in local:
        target, _, anchor = link.partition("#")
        path = ROOT / target
        assert path.exists(), f"README links to {link}, which does not exist"
        if anchor:
            slugs = {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                     for line in path.read_text().splitlines() if line.startswith("#")}
            assert anchor in slugs, f"README links to {link}: no such heading in {target}"


def test_a_site_built_in_the_checkout_is_ignored_by_git():
    """What `mkdocs build` writes (site/) never shows as a change to commit: asked of git itself."""
    import subprocess

    found = subprocess.run(["git", "check-ignore", "site/index.html", "site/assets/x.js"], cwd=ROOT,
                           capture_output=True, text=True)
    assert found.stdout.split() == ["site/index.html", "site/assets/x.js"], found.stderr


# --- the snippets -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", SNIPPET_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_snippet_is_marked(path):
    assert not unmarked(path), "\n".join(unmarked(path))


@pytest.mark.parametrize("path", SNIPPET_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_snippets_run(path, tmp_path):
    if SHARED.resolve() != (ROOT.parent / "shared").resolve():  # pragma: no cover - the snippets say ../shared
        pytest.skip("the snippets read ../shared beside the checkout")
    ran, skipped = run_snippets(path, tmp_path)
    for snippet in skipped:
        print(f"skipped {snippet.where()}: {snippet.reason}")
    if not ran:
        pytest.skip("; ".join(f"skipped {s.where()}: {s.reason}" for s in skipped) or "no snippet in this file")


def test_a_broken_snippet_fails_and_says_where(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n<!-- test: run -->\n```bash\nexport PHOTO=../shared/data/att_faces/s1/1.pgm\n"
                    "test -f \"$PHOTO\"\n```\n\nThen:\n\n<!-- test: run -->\n```bash\n"
                    "facerec verify \"$PHOTO\" no-such-photo.jpg\n```\n")
    with pytest.raises(AssertionError) as failure:
        run_snippets(page, tmp_path / "home")
    message = str(failure.value)
    assert "page.md:12: the bash block failed" in message  # the second block; the first ran and set PHOTO
    assert "no-such-photo.jpg" in message

    broken_python = tmp_path / "python.md"
    broken_python.write_text("<!-- test: run -->\n```python\nimport facerec\nfacerec.no_such_function()\n```\n")
    with pytest.raises(AssertionError, match=r"python\.md:2: the python block failed"):
        run_snippets(broken_python, tmp_path / "home2")


def test_an_unmarked_snippet_or_a_skip_without_reason_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\necho hello\n```\n\n<!-- test: skip -->\n```python\nprint(1)\n```\n\n"
                    "```text\nsample output, not a command\n```\n")
    problems = unmarked(page)
    assert len(problems) == 2
    assert "page.md:1: a bash block without" in problems[0]
    assert "page.md:6: <!-- test: skip --> without a reason" in problems[1]
    with pytest.raises(AssertionError):
        run_snippets(page, tmp_path / "home")
