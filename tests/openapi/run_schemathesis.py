#!/usr/bin/env python3
"""Check a running Yunying against docs/openapi.yaml with schemathesis.

Starts nothing: point it at a server (`--url`) with one credential, a
session cookie (`--cookie yy_session=…`) or a bearer token (`--token …`).
It runs schemathesis (the version pinned in requirements.txt) with the
checks the acceptance of issue 26 names: no server error (5xx), every
answer's body, status and content type as the description says. The run
is bounded (`--max-examples` cases per operation and phase) and
repeatable (`--seed`). Exit status 0 when nothing was found; schemathesis'
own status otherwise, its report on standard output.

The fuzzer calls DELETE and POST on administration routes: run it against
a throwaway server. It never signs its own credential out (see hooks.py,
and the exclusions below), so the whole run is made as that principal.
"""

import argparse
import json
import tempfile
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"

# Operations that end the credential's own session whatever their
# parameters: after them every request would be anonymous. (Ending another
# session, or changing another account, stays in: hooks.py drops only the
# cases that name the credential's own.)
EXCLUDED = [
    ("POST", "/api/auth/logout"),
    ("POST", "/api/auth/logout-all"),
]


def whoami(url: str, headers: dict) -> dict:
    """`GET /api/auth/me` as the credential: its session and account ids."""
    request = urllib.request.Request(url.rstrip("/") + "/api/auth/me", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        if e.code == 401 and "yy_session=" not in headers.get("Cookie", "") and "Authorization" not in headers:
            # A film's session cookie alone: no person, no key.
            print("no person or key behind the credential: the run is a film session's (or anonymous)", flush=True)
            return {}
        sys.exit(f"the credential does not sign in: GET /api/auth/me answered {e.code}: {e.read()[:300]!r}")


def values_config(pairs: list) -> str:
    """A schemathesis config file binding each key to a dictionary of its
    values, drawn half the time (so real resources are reached and random
    ones still tried); '' without values."""
    keys: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            sys.exit(f"--value takes KEY=VALUE, not {pair!r}")
        keys.setdefault(key, []).append(value)
    if not keys:
        return ""
    lines = []
    for i, values in enumerate(keys.values()):
        lines += [f"[dictionaries.d{i}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for i, key in enumerate(keys):
        lines.append(f'{json.dumps(key)} = {{ dictionary = "d{i}", probability = 0.5 }}')
    handle, path = tempfile.mkstemp(prefix="yunying-schemathesis-", suffix=".toml")
    with os.fdopen(handle, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8042")
    p.add_argument("--cookie", help="cookies to send: yy_session=… (and yy_film=… for a film's own routes)")
    p.add_argument("--token", help="a bearer token: an API key yk_… or http.api_token")
    p.add_argument("--keep-session", action="append", default=[], metavar="ID", help="a session the run must not end")
    p.add_argument("--keep-user", action="append", default=[], metavar="ID", help="an account the run must not change")
    p.add_argument("--schema", default=str(ROOT / "docs" / "openapi.yaml"))
    p.add_argument("--max-examples", type=int, default=10, help="cases per operation and phase (default 10)")
    p.add_argument("--seed", type=int, default=26)
    p.add_argument("--checks", default=CHECKS, help=f"schemathesis checks (default {CHECKS})")
    # One worker: Hypothesis describes strategies with `ast.parse`, which
    # CPython 3.11 can fail in concurrent threads ("AST constructor recursion
    # depth mismatch"), an error of the tool that would read as a finding.
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--report-dir", help="write a JUnit report there")
    p.add_argument(
        "--value",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a real value the fuzzer uses half the time for a parameter (schemathesis binding keys: "
        "path.study, query.issuer, body.study, body.studies[*], …); repeat a key for several values",
    )
    # Anything else is schemathesis' own (`--generation-allow-x00 false`, …).
    args, extra = p.parse_known_args()
    if not (args.cookie or args.token):
        p.error("give a credential: --cookie, --token or both")

    headers = {}
    if args.cookie:
        headers["Cookie"] = args.cookie
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    me = whoami(args.url, headers)
    env = dict(os.environ)
    env["SCHEMATHESIS_HOOKS"] = str(HERE / "hooks.py")
    env["YUNYING_OA_KEEP_SESSIONS"] = ",".join(filter(None, [str(me.get("session_id") or ""), *args.keep_session]))
    env["YUNYING_OA_KEEP_USERS"] = ",".join(filter(None, [str(me.get("user_id") or ""), *args.keep_user]))

    command = [sys.executable, "-m", "schemathesis.cli"]
    config = values_config(args.value)
    if config:
        command += ["--config-file", config]
    command += ["run", args.schema, "--url", args.url]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    command += [
        "--checks", args.checks,
        # Test data: the documented (positive) cases and invalid ones
        # (negative), from the schema's examples, its boundaries
        # (coverage) and at random (fuzzing). Stateful sequences are left
        # out: their length, and so the run time, is not bounded by
        # --max-examples.
        "--mode", "all",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(args.max_examples),
        "--seed", str(args.seed),
        "--workers", str(args.workers),
        # Redirects are answers of their own (`/`, `/viewer`, sign-in).
        "--max-redirects", "0",
        "--request-timeout", "30",
        # Hypothesis' health checks judge the generator, not the server.
        "--suppress-health-check", "all",
    ]
    for _, path in EXCLUDED:
        command += ["--exclude-path", path]
    command += extra
    if args.report_dir:
        command += ["--report", "junit", "--report-dir", args.report_dir]

    shown = [c if not (c.startswith("Cookie: ") or c.startswith("Authorization: ")) else c.split(":")[0] + ": …" for c in command]
    print("$", " ".join(shown), flush=True)
    started = time.monotonic()
    # In a directory of its own: schemathesis keeps a cache of earlier
    # failures where it runs and replays them, which would make a run
    # depend on the ones before it.
    with tempfile.TemporaryDirectory(prefix="yunying-schemathesis-") as scratch:
        status = subprocess.run(command, env=env, cwd=scratch).returncode
    print(f"schemathesis exited {status} after {time.monotonic() - started:.1f} s", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
