"""Paths that decode to a NUL byte or to invalid UTF-8 are refused with 400
bad_request and change nothing; a C string must never end a path early."""
import pytest


@pytest.mark.parametrize("path", ["/api/auth/me%00.css", "/api/auth/me%00", "/api/auth/%00me",
                                  "/api/auth/me%ff", "/api/auth/me%C3", "/api/auth/me%C0%AF",
                                  "/api/users/%ED%A0%80"])
def test_nul_and_invalid_utf8_paths_are_refused(start_server, path):
    srv = start_server()
    tok = srv.signup()["access_token"]
    r = srv.request("GET", path, token=tok)
    assert r.status == 400, (path, r.status)
    body = r.json()
    assert body["error"]["code"] == "bad_request"
    assert "email" not in r.body.decode(errors="replace")
    # The server goes on serving, and the real path still answers the user.
    assert srv.request("GET", "/api/auth/me", token=tok).status == 200


def test_valid_utf8_in_a_path_is_routed(start_server):
    srv = start_server()
    tok = srv.signup()["access_token"]
    r = srv.request("GET", "/api/users/caf%C3%A9", token=tok)
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"


def test_nul_in_a_query_value_is_refused(start_server):
    srv = start_server()
    tok = srv.signup()["access_token"]
    r = srv.request("GET", "/api/users/search?q=ab%00cd", token=tok)
    assert r.status == 400, r.status
