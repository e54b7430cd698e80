#!/usr/bin/env bash
# Builds the book and fails on the mistakes mdBook lets through silently:
#
# - a warning or error printed by `mdbook build`;
# - an `{{#include FILE:ANCHOR}}` whose file is missing, whose anchor is
#   missing, or whose anchor encloses no code (mdBook includes nothing then);
# - an `{{#...}}` directive left in the built HTML (mdBook leaves it when it
#   cannot resolve it);
# - a link or image in the built HTML that points at a file that does not
#   exist.
#
# Needs mdbook 0.5 (`cargo install --locked mdbook`) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mdbook >/dev/null; then
    echo "mdbook not found: install it with cargo install --locked mdbook" >&2
    exit 1
fi

echo "== mdbook build book ($(mdbook --version))"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! mdbook build book >"$log" 2>&1; then
    cat "$log"
    echo "mdbook build failed" >&2
    exit 1
fi
cat "$log"
if grep -Eq '(WARN|ERROR|warning|error)' "$log"; then
    echo "mdbook printed a warning or an error (see above)" >&2
    exit 1
fi

python3 - book <<'PY'
import html.parser
import pathlib
import re
import sys
import urllib.parse

book = pathlib.Path(sys.argv[1])
src = book / "src"
out = book / "book"
problems = []

# 1. Every include in the sources: file, anchor, and non-empty content.
directive = re.compile(r"\{\{#(include|rustdoc_include)\s+([^}\s]+)\s*\}\}")
for page in sorted(src.rglob("*.md")):
    text = page.read_text(encoding="utf-8")
    for match in directive.finditer(text):
        where = f"{page}: {match.group(0)}"
        path, _, selector = match.group(2).partition(":")
        target = (page.parent / path).resolve()
        if not target.is_file():
            problems.append(f"{where}: file {path} not found")
            continue
        lines = target.read_text(encoding="utf-8").splitlines()
        if not selector:
            if not any(line.strip() for line in lines):
                problems.append(f"{where}: the file is empty")
            continue
        if re.fullmatch(r"\d*(:\d*)?", selector):
            problems.append(f"{where}: line ranges drift when the file changes; use an ANCHOR")
            continue
        start = [i for i, line in enumerate(lines) if re.search(rf"\bANCHOR:\s*{re.escape(selector)}\s*$", line)]
        end = [i for i, line in enumerate(lines) if re.search(rf"\bANCHOR_END:\s*{re.escape(selector)}\s*$", line)]
        if len(start) != 1 or len(end) != 1 or end[0] <= start[0]:
            problems.append(f"{where}: anchor {selector!r} not found once as ANCHOR ... ANCHOR_END in {path}")
            continue
        body = [line for line in lines[start[0] + 1:end[0]] if "ANCHOR" not in line]
        if not any(line.strip() for line in body):
            problems.append(f"{where}: anchor {selector!r} in {path} encloses no code")

# 2. and 3. The built pages: leftover directives, and links to nothing.
class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and ((name == "href" and tag in ("a", "link")) or (name == "src" and tag in ("img", "script", "iframe"))):
                self.targets.append(value)

pages = sorted(out.rglob("*.html"))
if not pages:
    problems.append(f"{out}: no HTML pages were built")
for page in pages:
    text = page.read_text(encoding="utf-8")
    for line_number, line in enumerate(text.splitlines(), 1):
        if "{{#" in line:
            problems.append(f"{page}:{line_number}: unresolved directive {line.strip()[:80]}")
    parser = Links()
    parser.feed(text)
    for target in sorted(set(parser.targets)):
        parsed = urllib.parse.urlsplit(target)
        if parsed.scheme or target.startswith("//") or not parsed.path:
            continue  # an external address, or a fragment of this page
        path = urllib.parse.unquote(parsed.path)
        resolved = (out / path.lstrip("/")) if path.startswith("/") else (page.parent / path)
        if resolved.is_dir():
            resolved = resolved / "index.html"
        if not resolved.exists():
            problems.append(f"{page}: link to {target} points at nothing")

for problem in problems:
    print(problem, file=sys.stderr)
if problems:
    sys.exit(f"{len(problems)} problem(s) in the book")
print(f"checked {len(pages)} pages: every include, anchor, link and image resolves")
PY
