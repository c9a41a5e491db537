"""Schemathesis hooks for Yunying's run (loaded through SCHEMATHESIS_HOOKS).

The fuzzer reuses identifiers it read from earlier answers (its "extra
data sources"): the session list names the run's own session, the account
list its own account. Ending that session, or disabling, resetting or
re-roling that account, would sign the credential out, and every later
request would test nothing but the 401 path; the same for the accounts and
sessions of the other credentials a test runs with afterwards. So cases
that name one of those sessions or accounts are dropped; every other
session and account stays fair game. The runner sets the two lists (comma
separated): the credential's own ids from `GET /api/auth/me`, and those
given with --keep-session / --keep-user.

One known server bug is stepped around, not hidden: `GET
/api/reading/statistics` computes `to_ms - 30 * 86_400_000` (the default
`from_ms`, computed even when `from_ms` is given) and `to_ms - from_ms` in
i64 (crates/yunying-reading/src/stats.rs, `stats_as`). With `to_ms` near
i64::MIN, or `from_ms` and `to_ms` far apart, that overflows: with overflow
checks (debug and test builds) the handler panics and the connection closes
with no answer; in a release build the difference wraps and the 400-day
limit is not applied. Such cases are dropped until that is fixed
(tests/it/openapi.rs has the ignored test that reproduces it); remove
`_statistics_overflows` then.
"""

import os
import time

import schemathesis


def _ids(name):
    return {i for i in os.environ.get(name, "").split(",") if i}


KEEP_SESSIONS = _ids("YUNYING_OA_KEEP_SESSIONS")
KEEP_USERS = _ids("YUNYING_OA_KEEP_USERS")


I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def _i64(value):
    """A query value the server parses as an i64, else None (it answers 400)."""
    try:
        n = int(str(value))
    except ValueError:
        return None
    return n if I64_MIN <= n <= I64_MAX else None


def _statistics_overflows(query):
    """Whether `stats_as` would overflow on these `from_ms`/`to_ms` (see above)."""
    query = query or {}
    to_ms = _i64(query["to_ms"]) if "to_ms" in query else int(time.time() * 1000)
    from_ms = _i64(query["from_ms"]) if "from_ms" in query else None
    if to_ms is None or ("from_ms" in query and from_ms is None):
        return False
    # The default `from_ms` is computed even when one is given (`unwrap_or`).
    if to_ms - 30 * 86_400_000 < I64_MIN:
        return True
    return from_ms is not None and from_ms < to_ms and to_ms - from_ms > I64_MAX


@schemathesis.hook
def filter_case(context, case):
    path = case.operation.path
    if path == "/api/reading/statistics" and _statistics_overflows(case.query):
        return False
    named = str((case.path_parameters or {}).get("id", ""))
    if path == "/api/admin/sessions/{id}" and named in KEEP_SESSIONS:
        return False
    if path.startswith("/api/admin/users/{id}") and named in KEEP_USERS:
        return False
    return True
