#!/usr/bin/env python3
"""Check the admin guide against the binary: commands, flags, metrics, keys, links.

For every Markdown file under docs/ (and CHANGELOG.md):

- every `yunying SUBCOMMAND [SUBCOMMAND] … --flag` in a code span or block
  names a subcommand and flags that `yunying … --help` lists;
- every metric family named (`yunying_*`, `process_*`) is one the binary's
  code emits (looked up in a running node's /metrics when --metrics-url is
  given, else in the metric families this script knows from a scrape);
- every dotted configuration key in a code span (`dicom.aet`) is in
  docs/config-keys.toml;
- every relative link points at a file that exists, and every `#anchor`
  into a Markdown file at one of its headings.

The Grafana dashboard's queries are checked for metric names the same way.

    scripts/check-docs.py --yunying PATH [--metrics-url http://127.0.0.1:8042/metrics]

Exits 1 naming each problem. Python 3.11+, standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
import urllib.request
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GLOBAL_FLAGS = {"--config", "--data-dir", "--dicom-port", "--dicom-tls-port", "--http-port", "--aet", "--index-url", "--help", "--version"}
# Words after `yunying` that are not subcommands in running text or examples.
NOT_COMMANDS = {"is", "serve's", "binary", "program", "node", "nodes", "on", "to", "server", "…"}


def fail(problems: list[str]) -> None:
    print("check-docs: the guide does not match the binary:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)


@cache
def help_text(binary: str, path: tuple[str, ...]) -> str | None:
    done = subprocess.run([binary, *path, "--help"], capture_output=True, text=True, timeout=30, cwd="/")
    return done.stdout if done.returncode == 0 else None


def subcommands(text: str) -> set[str]:
    out, inside = set(), False
    for line in text.splitlines():
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside:
            if not line.startswith("  "):
                break
            out.add(line.split()[0])
    return out


def flags(text: str) -> set[str]:
    return set(re.findall(r"(--[a-z0-9-]+)", text))


def code_texts(markdown: str) -> list[str]:
    blocks = re.findall(r"```[a-z]*\n(.*?)```", markdown, re.S)
    rest = re.sub(r"```[a-z]*\n.*?```", "", markdown, flags=re.S)
    return blocks + re.findall(r"`([^`\n]+)`", rest)


def check_commands(binary: str, text: str, where: str, problems: list[str]) -> None:
    for code in code_texts(text):
        for line in code.splitlines():
            line = line.split(" #")[0]
            for m in re.finditer(r"(?:^|[\s(|;&`'\"])yunying((?:\s+[-\w.=:/…\"'$@]+)+)", line):
                words = m.group(1).split()
                if words and words[0] == "yunying":  # `sudo -u yunying yunying …`: a user, then the command
                    words = words[1:]
                path: list[str] = []
                rest: list[str] = []
                for i, w in enumerate(words):
                    if w.startswith("-"):
                        rest = words[i:]
                        break
                    if w in NOT_COMMANDS or not re.fullmatch(r"[a-z][a-z-]*", w):
                        rest = words[i:]
                        break
                    top = help_text(binary, tuple(path))
                    if top is None:
                        break
                    subs = subcommands(top)
                    if not subs:
                        rest = words[i:]
                        break
                    if w not in subs:
                        problems.append(f"{where}: `yunying {' '.join(path + [w])}`: no such subcommand")
                        path = []
                        break
                    path.append(w)
                if not path:
                    continue
                known = flags(help_text(binary, tuple(path)) or "") | GLOBAL_FLAGS
                for w in rest:
                    flag = w.split("=")[0].strip("`'\"")
                    if re.fullmatch(r"--[a-z0-9-]+", flag) and flag not in known:
                        problems.append(f"{where}: `yunying {' '.join(path)} {flag}`: no such flag")


def anchors(markdown: str) -> set[str]:
    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            out.add(slug)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--yunying", default=os.environ.get("YUNYING_BIN", "yunying"))
    parser.add_argument("--metrics-url", help="a running node's /metrics, for the metric families")
    args = parser.parse_args()

    keys = set(tomllib.loads((ROOT / "docs" / "config-keys.toml").read_text(encoding="utf-8")))
    families: set[str] = set()
    if args.metrics_url:
        with urllib.request.urlopen(args.metrics_url, timeout=10) as r:  # noqa: S310 (an operator's URL)
            families = set(re.findall(r"^# TYPE (\S+)", r.read(1 << 22).decode(), re.M))

    problems: list[str] = []
    files = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "CHANGELOG.md"]
    for path in files:
        where = str(path.relative_to(ROOT))
        text = path.read_text(encoding="utf-8")
        check_commands(args.yunying, text, where, problems)
        if families:
            for name in sorted(set(re.findall(r"\b((?:yunying|process)_[a-z0-9_]+[a-z0-9])\b", text))):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                crate = ROOT / "crates" / name.replace("_", "-")  # a log target such as yunying_dimse
                if base not in families and not crate.is_dir() and name != "yunying_ledger_writer":
                    problems.append(f"{where}: metric `{name}` is not on /metrics")
        for code in code_texts(text):
            prefixes = "dicom|http|access|archive|renditions|store|audit|retention|empi|recognition|log|tracing"
            for key in re.findall(rf"^((?:{prefixes})(?:\.[a-z0-9_]+)+)(?:\s*=.*)?$", code.strip()):
                if key not in keys:
                    problems.append(f"{where}: configuration key `{key}` is not in docs/config-keys.toml")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                problems.append(f"{where}: link to {target}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text(encoding="utf-8")):
                problems.append(f"{where}: link to {target}: no such heading")

    if families:
        dashboard = json.loads((ROOT / "docs" / "grafana" / "yunying.json").read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                for name in re.findall(r"\b((?:yunying|process)_[a-z0-9_]+)", target["expr"]):
                    if re.sub(r"_(bucket|sum|count)$", "", name) not in families:
                        problems.append(f"docs/grafana/yunying.json: panel {panel['title']!r}: metric `{name}` is not on /metrics")

    if problems:
        fail(problems)
    print(f"check-docs: {len(files)} files checked" + (" (metrics too)" if families else ""))


if __name__ == "__main__":
    main()
