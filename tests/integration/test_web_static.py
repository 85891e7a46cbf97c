"""The web client served by parleyd: files from web_dir at /, client routes
falling back to index.html (never for the API's paths), caching by content hash
and ETag, gzip when accepted, the security headers, HEAD, no way out of the
directory, the size bound, and an API-only server when web_dir is missing."""
import gzip
import os
import socket

import pytest

META_CDNS = "https://*.cdninstagram.com https://*.fbcdn.net https://*.fbsbx.com"
CSP = ("default-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self'; "
       f"img-src 'self' blob: data: {META_CDNS}; media-src 'self' {META_CDNS}; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

INDEX = b"<!doctype html><html><head><script type=module src=/assets/app-X2Y4Z6W8.js></script></head><body></body></html>"
APP_JS = b"export const hello = 'parley';\n" * 200  # compresses well


@pytest.fixture
def web_dir(tmp_path):
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_bytes(INDEX)
    (d / "assets" / "app-X2Y4Z6W8.js").write_bytes(APP_JS)
    (d / "assets" / "style-3f9a0c1d.css").write_bytes(b"body{color:#222}\n" * 40)
    (d / "favicon.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    (d / "logo.png").write_bytes(bytes(range(256)) * 4)
    (d / ".secret").write_bytes(b"dot files are not served")
    os.symlink("/etc/hostname", d / "link.txt")
    (tmp_path / "outside.txt").write_bytes(b"outside the web dir")
    return d


def get(server, path, **headers):
    return server.request("GET", path, headers=headers)


def raw(server, data):
    """Sends bytes as they are (paths http.client would refuse) and returns the reply."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    return out


def test_index_and_assets_with_headers(start_server, web_dir):
    server = start_server(env={"PARLEY_WEB_DIR": str(web_dir)})
    r = get(server, "/")
    assert r.status == 200, r
    assert r.body == INDEX
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.header("Content-Security-Policy") == CSP
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("Referrer-Policy")
    assert r.header("Cache-Control") == "no-cache"
    assert r.header("ETag", ).startswith('"')
    r = get(server, "/assets/app-X2Y4Z6W8.js")
    assert r.status == 200 and r.body == APP_JS
    assert r.header("Content-Type").startswith("text/javascript")
    assert r.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert r.header("Content-Security-Policy") == CSP
    r = get(server, "/assets/style-3f9a0c1d.css")
    assert r.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert r.header("Content-Type").startswith("text/css")
    r = get(server, "/favicon.svg")
    assert r.status == 200 and r.header("Cache-Control") == "no-cache"
    assert r.header("Content-Type") == "image/svg+xml"


def test_client_routes_fall_back_to_index_but_never_the_api(start_server, web_dir):
    server = start_server(env={"PARLEY_WEB_DIR": str(web_dir)})
    for path in ["/inbox", "/chat/abc123", "/flows/f1/edit", "/settings/", "/u/some.name"]:
        r = get(server, path, Accept="text/html,application/xhtml+xml")
        assert r.status == 200 and r.body == INDEX, (path, r)
    assert get(server, "/inbox").body == INDEX
    # A missing file is a 404, not HTML that a script tag would run.
    r = get(server, "/assets/app-OLDHASH1.js")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"
    for path in ["/api/nothing", "/api", "/ws/x", "/healthz/x", "/metrics/x", "/webhooks/instagram",
                 "/readyz/x", "/api/conversations/x/y/z"]:
        r = get(server, path, Accept="text/html")
        assert r.status == 404, (path, r)
        assert r.json()["error"]["code"] == "not_found", path
    assert get(server, "/healthz").json()["status"] == "ok"
    r = server.request("POST", "/inbox", body={})
    assert r.status == 404


def test_etag_revalidation_and_head(start_server, web_dir):
    server = start_server(env={"PARLEY_WEB_DIR": str(web_dir)})
    r = get(server, "/")
    etag = r.header("ETag")
    r = get(server, "/", **{"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    assert r.header("ETag") == etag
    assert get(server, "/", **{"If-None-Match": f'"x", W/{etag}'}).status == 304
    assert get(server, "/", **{"If-None-Match": '"other"'}).status == 200
    # Another file has another tag.
    assert get(server, "/favicon.svg").header("ETag") != etag
    h = server.request("HEAD", "/assets/app-X2Y4Z6W8.js")
    assert h.status == 200 and h.body == b""
    assert int(h.header("Content-Length")) == len(APP_JS)
    # The connection stays usable after a HEAD (no stray body bytes).
    out = raw(server, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200") == 2, out
    assert b'{"status":"ok"' in out.split(b"\r\n\r\n", 2)[2]


def test_gzip_when_accepted(start_server, web_dir):
    server = start_server(env={"PARLEY_WEB_DIR": str(web_dir)})
    r = get(server, "/assets/app-X2Y4Z6W8.js", **{"Accept-Encoding": "br, gzip"})
    assert r.header("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in r.header("Vary")
    assert len(r.body) < len(APP_JS) / 5
    assert gzip.decompress(r.body) == APP_JS
    # The two representations carry different tags; each revalidates itself.
    plain_tag = get(server, "/assets/app-X2Y4Z6W8.js").header("ETag")
    gz_tag = r.header("ETag")
    assert gz_tag != plain_tag
    assert get(server, "/assets/app-X2Y4Z6W8.js", **{"Accept-Encoding": "gzip",
                                                     "If-None-Match": gz_tag}).status == 304
    assert get(server, "/assets/app-X2Y4Z6W8.js", **{"If-None-Match": gz_tag}).status == 200
    for ae in [None, "identity", "gzip;q=0", "br"]:
        r = get(server, "/assets/app-X2Y4Z6W8.js", **({"Accept-Encoding": ae} if ae else {}))
        assert r.header("Content-Encoding") is None and r.body == APP_JS, ae
    # Images are already compressed: sent as they are.
    r = get(server, "/logo.png", **{"Accept-Encoding": "gzip"})
    assert r.header("Content-Encoding") is None and r.header("Content-Type") == "image/png"


def test_precompressed_gz_from_the_build_is_used(start_server, web_dir):
    body = b"console.log('precompressed');\n" * 100
    (web_dir / "assets" / "pre-AAAABBBB.js").write_bytes(body)
    (web_dir / "assets" / "pre-AAAABBBB.js.gz").write_bytes(gzip.compress(body, 9))
    server = start_server(env={"PARLEY_WEB_DIR": str(web_dir)})
    r = get(server, "/assets/pre-AAAABBBB.js", **{"Accept-Encoding": "gzip"})
    assert r.header("Content-Encoding") == "gzip" and gzip.decompress(r.body) == body
    assert get(server, "/assets/pre-AAAABBBB.js").body == body


def test_nothing_outside_the_table(start_server, web_dir):
    server = start_server(env={"PARLEY_WEB_DIR": str(web_dir)})
    for path in [b"/../outside.txt", b"/assets/../../outside.txt", b"/%2e%2e/outside.txt",
                 b"/.secret", b"/link.txt", b"//etc/passwd", b"/assets/%2e%2e/%2e%2e/outside.txt"]:
        out = raw(server, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b"outside the web dir" not in out, path
        assert b"dot files" not in out and b"root:" not in out, path
        # A 404, or for a path that looks like a page the app's index: never a file.
        assert (out.startswith(b"HTTP/1.1 404") or out.startswith(b"HTTP/1.1 400")
                or out.endswith(INDEX)), (path, out[:200])


def test_size_bound_skips_files_with_a_log_line(start_server, web_dir):
    (web_dir / "big.bin").write_bytes(os.urandom(300_000))
    server = start_server(env={"PARLEY_WEB_DIR": str(web_dir), "PARLEY_WEB_MAX_BYTES": "200000",
                               "PARLEY_LOG_LEVEL": "info"})
    assert get(server, "/big.bin").status == 404
    assert get(server, "/").body == INDEX
    log = server.read_log(tail=0)
    assert "big.bin" in log and "web_max_bytes" in log, log[-2000:]
    assert "link.txt" in log  # the symbolic link was refused, with a line


def test_missing_web_dir_serves_the_api_only(start_server, tmp_path):
    server = start_server(env={"PARLEY_WEB_DIR": str(tmp_path / "nope"), "PARLEY_LOG_LEVEL": "warn"})
    r = get(server, "/")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"
    assert "Content-Security-Policy" not in dict(r.headers)
    assert get(server, "/healthz").status == 200
    assert "web_dir" in server.read_log(tail=0)
    s = server.signup()
    assert s["access_token"]


def test_files_loaded_at_start_not_read_per_request(start_server, web_dir):
    server = start_server(env={"PARLEY_WEB_DIR": str(web_dir)})
    (web_dir / "index.html").write_bytes(b"changed on disk")
    (web_dir / "new.txt").write_bytes(b"new")
    assert get(server, "/").body == INDEX
    assert get(server, "/new.txt").status == 404


def test_bad_web_max_bytes_stops_start_up(start_server, web_dir):
    from conftest import Server
    s = Server(env={"PARLEY_WEB_DIR": str(web_dir), "PARLEY_WEB_MAX_BYTES": "-5"})
    try:
        s.start(wait=False)
        assert s.proc.wait(timeout=10) == 2
        assert "web_max_bytes" in s.read_log()
    finally:
        s.cleanup()
