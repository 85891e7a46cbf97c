"""Files in the web client (issue 18, item 5): the composer's attach button uploads a
picked file at once with its progress, the message goes with attachment_ids, and the
conversation shows an image inline (through its signed URL, under the client's CSP)
and any other file as a chip with its name and size; a file the server refuses shows
the server's reason."""
import os
import struct
import tempfile
import zlib


def png(width=96, height=64):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    rows = b"".join(b"\x00" + b"".join(bytes((x * 2 % 256, y * 4 % 256, 180)) for x in range(width))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" + b"%" * 2000


def write(d, name, data):
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def test_attach_an_image_and_a_pdf_and_see_them(app_factory, browser_factory):
    app = app_factory(env={"PARLEY_UPLOAD_MAX_BYTES": "300000"})
    a = app.signup("Ann Files")
    b = app.signup("Ben Files")
    st, body = app.api("POST", "/api/conversations", {"type": "direct", "participant_id": b["user"]["id"]},
                       token=a["access_token"])
    assert st in (200, 201)
    cid = body["conversation"]["id"]
    d = tempfile.mkdtemp(prefix="parley-files-")
    photo = write(d, "sunset.png", png())
    report = write(d, "report.pdf", PDF)
    big = write(d, "huge.pdf", b"%PDF-1.4\n" + b"x" * 400000)
    page = write(d, "page.html", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n" * 4)

    ann = browser_factory(app=app)
    ann.login_token(a)
    ann.open(f"/c/{cid}")
    ann.find("[data-test=composer]")
    picker = ann.find("[data-test=file-input]")
    picker.send_keys(photo)
    picker.send_keys(report)
    ann.wait(lambda: len(ann.all("[data-test=upload-done]")) == 2, what="both uploads done")
    assert ann.texts("[data-test=pending-file] .pf-name") == ["sunset.png", "report.pdf"]
    ann.shot("files-composer-ready")
    box = ann.find("[data-test=composer]")
    box.send_keys("the files you asked for\n")
    ann.wait(lambda: ann.all("[data-test=msg].own [data-test=att-file]"), what="the message with its files")
    ann.wait(lambda: ann.js("const i = document.querySelector('[data-test=msg].own [data-test=att-image] img');"
                            " return !!i && i.complete && i.naturalWidth === 96;"), what="the image loaded")
    chip = ann.find("[data-test=msg].own [data-test=att-file]")
    assert "report.pdf" in chip.text and "KB" in chip.text
    assert not ann.all("[data-test=pending-file]")
    ann.shot("files-sent")

    # Stored as sent, with both files, in the order picked.
    st, hist = app.api("GET", f"/api/conversations/{cid}/messages", token=b["access_token"])
    m = hist["messages"][-1]
    assert [x["name"] for x in m["attachments"]] == ["sunset.png", "report.pdf"]
    assert m["text"] == "the files you asked for"

    # Ben sees the image inline and the PDF as a download chip.
    ben = browser_factory(app=app)
    ben.login_token(b)
    ben.open(f"/c/{cid}")
    ben.wait(lambda: ben.js("const i = document.querySelector('[data-test=att-image] img');"
                            " return !!i && i.complete && i.naturalWidth === 96;"), what="Ben's image loaded")
    link = ben.find("[data-test=att-image]")
    assert "/api/attachments/" in link.get_attribute("href")
    assert ben.find("[data-test=att-file]").get_attribute("download") == "report.pdf"
    ben.shot("files-received")

    # Refused files show the server's reason and send nothing.
    picker = ann.find("[data-test=file-input]")
    picker.send_keys(big)
    ann.wait(lambda: ann.all("[data-test=upload-error]"), what="the size error")
    assert "Too large" in ann.texts("[data-test=upload-error]")[0]
    picker.send_keys(page)
    ann.wait(lambda: len(ann.all("[data-test=upload-error]")) == 2, what="the type error")
    assert "text/html" in ann.texts("[data-test=upload-error]")[1]
    ann.shot("files-refused")
    assert ann.find("[data-test=send]").get_attribute("disabled")
    for x in ann.all("[data-test=pending-file-remove]"):
        x.click()
    ann.wait(lambda: not ann.all("[data-test=pending-file]"), what="the refused files removed")
    csp = [e for e in ann.logs() + ben.logs() if "Content Security Policy" in e.get("message", "")]
    assert not csp, csp


def test_a_chat_left_open_gets_fresh_file_urls(app_factory, browser_factory):
    """Attachment URLs are signed for attachment_url_ttl_s to twice that (docs/API.md,
    Downloads). A chat left open past that: a picture that fails to load reads its
    message again and shows, and the file chip links to the fresh URL."""
    import re
    import time
    app = app_factory(env={"PARLEY_ATTACHMENT_URL_TTL_S": "10"})
    a = app.signup("Ann Later")
    b = app.signup("Ben Later")
    st, body = app.api("POST", "/api/conversations", {"type": "direct", "participant_id": b["user"]["id"]},
                       token=a["access_token"])
    cid = body["conversation"]["id"]
    ann = browser_factory(app=app)
    ann.login_token(a)
    ann.open(f"/c/{cid}")
    picker = ann.find("[data-test=file-input]")
    d = tempfile.mkdtemp(prefix="parley-files-")
    picker.send_keys(write(d, "dawn.png", png()))
    picker.send_keys(write(d, "notes.pdf", PDF))
    ann.wait(lambda: len(ann.all("[data-test=upload-done]")) == 2, what="both uploads done")
    ann.find("[data-test=composer]").send_keys("for later\n")
    ann.wait(lambda: ann.all("[data-test=msg].own [data-test=att-file]"), what="the message with its files")

    ben = browser_factory(app=app)
    ben.login_token(b)
    ben.open(f"/c/{cid}")
    img = "document.querySelector('[data-test=att-image] img')"
    ben.wait(lambda: ben.js(f"const i = {img}; return !!i && i.complete && i.naturalWidth === 96;"),
             what="the image loaded")
    old = ben.js(f"return {img}.src")
    old_chip = ben.find("[data-test=att-file]").get_attribute("href")
    exp = int(re.search(r"[?&]exp=(\d+)", old).group(1))
    assert exp <= time.time() + 21
    while time.time() <= exp + 1:  # the URL the page holds has expired
        time.sleep(0.25)
    assert ben.js("return fetch(arguments[0]).then((r) => r.status)", old) == 404
    # The picture is drawn again (a scroll, a re-render) from its expired URL: it fails,
    # the message is read again, and the fresh URL shows it.
    ben.js(f"const i = {img}; i.src = i.src + '&again=1';")
    ben.wait(lambda: ben.js(f"const i = {img}; return !!i && !i.src.includes('again') && i.complete"
                            f" && i.naturalWidth === 96;"), what="the image shown from a fresh URL")
    new = ben.js(f"return {img}.src")
    assert int(re.search(r"[?&]exp=(\d+)", new).group(1)) > exp
    chip = ben.find("[data-test=att-file]").get_attribute("href")
    assert chip != old_chip and int(re.search(r"[?&]exp=(\d+)", chip).group(1)) > exp
    assert ben.js("return fetch(arguments[0]).then((r) => r.status)", chip) == 200
