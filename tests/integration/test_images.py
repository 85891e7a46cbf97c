"""Images among uploads (issue 18, item 2): an uploaded image is measured from
its header (refused over image_max_pixels before a pixel is decoded), a
truncated one is refused, a JPEG's stored original loses its EXIF and GPS
(its orientation kept), and a thumbnail is stored beside it; the size is on the
attachment and on the messages that carry it."""
import os
import struct
import time
import zlib

from messaging_helpers import api, create_direct

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "images")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def png(width, height, rows=None):
    """A PNG of width x height; rows: the raw scanlines (default: all of them)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = rows if rows is not None else (b"\x00" + b"\x80" * (3 * width)) * height
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) +
            chunk(b"IEND", b""))


def upload(server, session, data, name):
    return api(server, "POST", f"/api/uploads?name={name}", session, raw_body=data,
               headers={"Content-Type": "application/octet-stream"})


def objects(server):
    root = os.path.join(server.data_dir, "files")
    return sorted(n for n in os.listdir(root) if n != "tmp"), os.listdir(os.path.join(root, "tmp"))


def read_object(server, key):
    with open(os.path.join(server.data_dir, "files", key), "rb") as f:
        return f.read()


def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise AssertionError("no SOF")


def test_jpeg_original_loses_exif_and_gps_and_gets_a_thumbnail(server):
    a, b = server.signup(), server.signup()
    jpg = fixture("gps.jpg")
    assert b"ParleyCam" in jpg and b"Exif" in jpg  # the fixture carries them
    r = upload(server, a, jpg, "trip.jpg")
    assert r.status == 201, r
    att = r.json()["attachment"]
    # 64 x 48 turned a quarter by its orientation: shown 48 wide, 64 high.
    assert (att["width"], att["height"]) == (48, 64)
    assert att["content_type"] == "image/jpeg" and "thumbnail_key" not in att
    objs, tmp = objects(server)
    assert len(objs) == 2 and att["id"] in objs and tmp == []
    original = read_object(server, att["id"])
    assert b"ParleyCam" not in original
    assert att["size"] == len(original)  # the original as stored, smaller without its EXIF
    # What is left of EXIF is the orientation alone: one IFD0 entry, no GPS IFD.
    exif = original.index(b"Exif\x00\x00")
    tiff = original[exif + 6:]
    assert struct.unpack(">H", tiff[8:10])[0] == 1
    assert struct.unpack(">HHIH", tiff[10:20]) == (0x0112, 3, 1, 6)
    assert b"\x88\x25" not in tiff[:40]
    # The pixels are untouched: the entropy-coded data is the upload's.
    assert original[-200:] == jpg[-200:]
    thumb_key = next(o for o in objs if o != att["id"])
    thumb = read_object(server, thumb_key)
    assert thumb[:2] == b"\xff\xd8" and b"Exif" not in thumb and b"ParleyCam" not in thumb
    assert jpeg_size(thumb) == (48, 64)  # upright, and small already
    # The size travels with the message.
    cid = create_direct(server, a, b)["id"]
    r = api(server, "POST", f"/api/conversations/{cid}/messages", a,
            {"attachment_ids": [att["id"]]})
    assert r.status == 201, r
    sent = r.json()["message"]["attachments"][0]
    assert (sent["width"], sent["height"]) == (48, 64) and "thumbnail_key" not in sent and "thumbnail_url" in sent
    r = api(server, "GET", f"/api/conversations/{cid}/messages", b)
    got = r.json()["messages"][-1]["attachments"][0]
    assert (got["width"], got["height"]) == (48, 64)


def test_large_png_thumbnail_is_320_on_its_long_edge(server):
    a = server.signup()
    r = upload(server, a, png(1000, 400), "wide.png")
    assert r.status == 201, r
    att = r.json()["attachment"]
    assert (att["width"], att["height"]) == (1000, 400)
    objs, _ = objects(server)
    thumb = read_object(server, next(o for o in objs if o != att["id"]))
    assert jpeg_size(thumb) == (320, 128)
    assert read_object(server, att["id"]) == png(1000, 400)  # a PNG is kept as sent


def test_bomb_refused_from_its_header(server):
    a = server.signup()
    # A few KB claiming 50,000 x 50,000 (7.5 GB of pixels): refused at once.
    bomb = png(50000, 50000, rows=b"\x00" * 20000)
    assert len(bomb) < 4096
    t = time.monotonic()
    r = upload(server, a, bomb, "bomb.png")
    took = time.monotonic() - t
    assert r.status == 413 and r.json()["error"]["code"] == "payload_too_large", r
    assert "image_max_pixels" in r.json()["error"]["message"]
    assert took < 2, took
    assert objects(server) == ([], [])


def test_pixel_budget_is_a_setting(start_server):
    server = start_server(env={"PARLEY_IMAGE_MAX_PIXELS": "10000"})
    a = server.signup()
    assert upload(server, a, png(100, 100), "ok.png").status == 201
    r = upload(server, a, png(101, 100), "big.png")
    assert r.status == 413, r
    assert len(objects(server)[0]) == 2


def test_truncated_images_are_refused_and_leave_nothing(server):
    a = server.signup()
    jpg = fixture("gps.jpg")
    whole = png(300, 200, rows=b"".join(b"\x00" + os.urandom(900) for _ in range(200)))
    for data, name in ((jpg[:len(jpg) * 2 // 3], "cut.jpg"), (whole[:len(whole) // 2], "cut.png")):
        r = upload(server, a, data, name)
        assert r.status == 400 and r.json()["error"]["code"] == "validation_failed", r
    assert objects(server) == ([], [])
    # A file libvips does not read (BMP needs a loader Parley blocks) is kept
    # without a size.
    bmp = (b"BM" + struct.pack("<IHHI", 58, 0, 0, 54) +
           struct.pack("<IiiHHIIiiII", 40, 1, 1, 1, 24, 0, 4, 0, 0, 0, 0) + b"\x00\x00\xff\x00")
    r = upload(server, a, bmp, "dot.bmp")
    assert r.status == 201, r
    att = r.json()["attachment"]
    assert att["type"] == "image" and "width" not in att
    assert objects(server)[0] == [att["id"]]


def test_unsent_image_is_swept_with_its_thumbnail(start_server):
    # Its life is more than the upload and the look at it take under ASan beside the
    # browser suite (2 s once was not).
    server = start_server(env={"PARLEY_UPLOAD_UNSENT_TTL_S": "5"})
    a = server.signup()
    att = upload(server, a, png(400, 300), "left.png").json()["attachment"]
    assert "thumbnail_url" in att and len(objects(server)[0]) == 2
    deadline = time.time() + 20
    while time.time() < deadline and objects(server) != ([], []):
        time.sleep(0.1)
    assert objects(server) == ([], [])
