"""Avatars in the web client (issue 18, item 5): a user picks a picture on the profile
screen (uploaded, previewed, set) and another user's open browser shows it live in the
conversation list, the chat header, next to the user's messages in a group and in the
group's member list; a group's admin sets the group's picture from its details; removing
a picture brings the initials back, live too."""
import os
import struct
import tempfile
import zlib

PIC = "[data-test=avatar-pic]"


def png(width, height, rgb):
    """Diagonal stripes of rgb and white: a picture that cannot pass for the initials."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    rows = b"".join(b"\x00" + b"".join(bytes(rgb) if (x + y) // 12 % 2 else b"\xff\xff\xff" for x in range(width))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def loaded(page, css):
    """True once css names an avatar whose picture has loaded (not the initials)."""
    return page.js("const i = document.querySelector(arguments[0]);"
                   " return !!i && i.complete && i.naturalWidth > 0;", css + " " + PIC)


def row(cid):
    return f"[data-test=conv-row][data-id='{cid}']"


def test_avatars_show_live_in_lists_headers_members_and_messages(app, browser_factory):
    a = app.signup("Ann Avatar")
    b = app.signup("Ben Viewer")
    ua = a["user"]["id"]
    st, body = app.api("POST", "/api/conversations", {"type": "direct", "participant_id": b["user"]["id"]},
                       token=a["access_token"])
    direct = body["conversation"]["id"]
    st, body = app.api("POST", "/api/conversations", {"type": "group", "name": "Pictures",
                                                      "participant_ids": [b["user"]["id"]]},
                       token=a["access_token"])
    group = body["conversation"]["id"]
    st, _ = app.api("POST", f"/api/conversations/{group}/messages", {"text": "hello from Ann"},
                    token=a["access_token"])
    assert st == 201
    d = tempfile.mkdtemp(prefix="parley-avatars-")
    face = os.path.join(d, "face.png")
    with open(face, "wb") as f:
        f.write(png(120, 120, (220, 90, 40)))
    team = os.path.join(d, "team.png")
    with open(team, "wb") as f:
        f.write(png(80, 80, (40, 120, 220)))

    # Ben is in the group's chat before anything changes: initials everywhere.
    ben = browser_factory()
    ben.login_token(b)
    ben.open(f"/c/{group}")
    ben.find(row(direct))
    ben.find("[data-test=msg-avatar]")
    assert not ben.all(f"{row(direct)} {PIC}") and not ben.all(f"[data-test=msg-avatar] {PIC}")

    # Ann picks a picture on her profile: preview, upload, set.
    ann = browser_factory()
    ann.login_token(a)
    ann.open("/settings")
    ann.find("[data-test=profile-avatar]")
    assert ann.find("[data-test=profile-avatar] [data-test=avatar]").get_attribute("data-pic") == "no"
    ann.find("[data-test=profile-avatar-input]").send_keys(face)
    ann.wait(lambda: ann.all("[data-test=profile-avatar-remove]") and loaded(ann, "[data-test=profile-avatar]"),
             what="Ann's picture set")
    src = ann.find(f"[data-test=profile-avatar] {PIC}").get_attribute("src")
    assert f"/thumbnail?a={ua}&" in src, src
    ann.shot("avatars-profile")

    # Ben sees it live: the list, the group's message, and the members in the details.
    ben.wait(lambda: loaded(ben, row(direct)), what="Ann's picture in Ben's list")
    ben.wait(lambda: loaded(ben, "[data-test=msg-avatar]"), what="Ann's picture by her message")
    ben.find("[data-test=details]").click()
    ben.wait(lambda: loaded(ben, f"[data-test=member][data-id='{ua}']"), what="Ann's picture in the members")
    ben.shot("avatars-group-members")
    ben.find(row(direct)).click()
    ben.wait(lambda: loaded(ben, ".chat-head"), what="Ann's picture in the header")
    ben.shot("avatars-direct-header")

    # Ann, the group's admin, gives the group a picture from its details.
    ann.open(f"/c/{group}")
    ann.find("[data-test=details]").click()
    ann.find("[data-test=group-avatar-input]").send_keys(team)
    ann.wait(lambda: loaded(ann, "[data-test=group-avatar]") and loaded(ann, ".chat-head"),
             what="the group's picture")
    ann.shot("avatars-group-settings")
    ben.wait(lambda: loaded(ben, row(group)), what="the group's picture in Ben's list")
    group_src = ben.find(f"{row(group)} {PIC}").get_attribute("src")
    assert f"a={group}&" in group_src
    ben.shot("avatars-list")

    # Ann removes her own picture: Ben's list and header show her initials again.
    ann.open("/settings")
    ann.find("[data-test=profile-avatar-remove]").click()
    ann.wait(lambda: ann.find("[data-test=profile-avatar] [data-test=avatar]").get_attribute("data-pic") == "no",
             what="Ann's picture removed")
    ben.wait(lambda: ben.find(f"{row(direct)} [data-test=avatar]").get_attribute("data-pic") == "no"
             and ben.find(".chat-head [data-test=avatar]").get_attribute("data-pic") == "no",
             what="Ann's initials back in Ben's list and header")
    assert ben.find(f"{row(direct)} [data-test=avatar]").text == "AA"
    # The group's own picture stays.
    assert loaded(ben, row(group))
    assert not ann.severe(), ann.severe()
    assert not ben.severe(), ben.severe()
