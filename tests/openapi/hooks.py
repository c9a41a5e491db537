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
"""

import os

import schemathesis


def _ids(name):
    return {i for i in os.environ.get(name, "").split(",") if i}


KEEP_SESSIONS = _ids("YUNYING_OA_KEEP_SESSIONS")
KEEP_USERS = _ids("YUNYING_OA_KEEP_USERS")


@schemathesis.hook
def filter_case(context, case):
    path = case.operation.path
    named = str((case.path_parameters or {}).get("id", ""))
    if path == "/api/admin/sessions/{id}" and named in KEEP_SESSIONS:
        return False
    if path.startswith("/api/admin/users/{id}") and named in KEEP_USERS:
        return False
    return True
