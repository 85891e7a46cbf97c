"""Secret chats end to end in the browser (issue 20, point 1; docs/API.md, Secret
chats): Alice starts one from the new-chat dialog, each browser registers a device with
its keys on first use, and the two talk both ways, each reading the other's messages
decrypted and their own as sent. A PyNaCl client (tests/integration/e2e_client.py) on
Alice's account reads what the browsers sealed for it and writes what both browsers
read. A message that does not decrypt, or was sealed with an identity key that is not one of
its sender's devices, shows a placeholder; the safety numbers match on
both sides; a reload still reads everything (the keys live in IndexedDB) and replaces a
week-old signed prekey, the old one still opening what was sealed for it; keys.low makes
the browser upload one-time prekeys; and the store holds no plaintext."""
from selenium.webdriver.common.keys import Keys

from conftest import bulk
from e2e_client import Device, open_sealed, seal
from test_e2e_secret import stored_plaintext

SECRETS = ["the eagle lands at midnight", "bring the blue folder", "zebra-quartz-7781"]


# Makes the signed prekey of the page's device a week old, in its IndexedDB.
AGE_SPK = """
const done = arguments[arguments.length - 1];
const req = indexedDB.open('parley-e2e:' + arguments[0], 1);
req.onsuccess = () => {
  const db = req.result;
  const t = db.transaction('meta', 'readwrite');
  const st = t.objectStore('meta');
  const g = st.get('device');
  g.onsuccess = () => st.put({ ...g.result, spkAt: Date.now() - 8 * 24 * 3600 * 1000 }, 'device');
  t.oncomplete = () => { db.close(); done(true); };
  t.onerror = () => done(false);
};
req.onerror = () => done(false);
"""


def devices(app, session):
    st, body = app.api("GET", "/api/devices", token=session["access_token"])
    assert st == 200
    return body["devices"]


def secret_texts(page):
    return page.texts("[data-test=messages] [data-test=secret-text]")


def send(page, text):
    box = page.find("[data-test=composer]")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def history(app, session, conv_id):
    st, body = app.api("GET", f"/api/conversations/{conv_id}/messages", token=session["access_token"])
    assert st == 200
    return body["messages"]


def test_two_browsers_talk_in_a_secret_chat(app_factory, browser_factory):
    # Bundle fetches beyond the default burst: the keys.low check below drains a device.
    app = app_factory(env={"PARLEY_KEYS_BURST": "200", "PARLEY_KEYS_RATE_PER_USER": "600"})
    a, b = app.signup("Ann Cipher"), app.signup("Ben Cipher")
    phone = Device()  # Alice's other device: the PyNaCl client
    st, body = app.api("POST", "/api/devices", phone.registration("Ann's phone"), token=a["access_token"])
    assert st == 201
    phone.id = body["device"]["id"]

    ann, ben = browser_factory(app=app), browser_factory(app=app)
    ann.login_token(a)
    ben.login_token(b)
    ann.open("/inbox")
    ann.find("[data-test=new-chat]").click()
    ann.find("[data-test=secret-mode]").click()
    ann.find("[data-test=secret-explain]")
    ann.shot("secret-new-chat")
    ann.find("[data-test=user-search]").send_keys("Ben Cipher")
    ann.find("[data-test=pick-user]").click()
    ann.wait(lambda: "/c/" in ann.d.current_url, what="the secret chat to open")
    sid = ann.d.current_url.rsplit("/c/", 1)[1]
    assert ann.find("[data-test=secret-badge]")
    # Starting it registered Ann's browser as a device, beside her phone.
    ann.wait(lambda: len(devices(app, a)) == 2, what="Ann's browser device")
    ann_dev = next(d for d in devices(app, a) if d["id"] != phone.id)
    assert ann_dev["one_time_prekeys"] == 100 and ann_dev["name"].endswith("(web)")

    # Ben's browser gets its keys as soon as his list shows a secret chat.
    ben.open("/inbox")
    ben.wait(lambda: len(devices(app, b)) == 1, what="Ben's browser device")
    ben_dev = devices(app, b)[0]
    ben.find(f"[data-test=conv-row][data-id='{sid}']").click()
    ben.find("[data-test=composer]")

    # Ann -> Ben: Ben reads it, Ann sees her own text, her phone reads its copy.
    send(ann, SECRETS[0])
    ann.wait(lambda: secret_texts(ann) == [SECRETS[0]], what="Ann's own message")
    ben.wait(lambda: secret_texts(ben) == [SECRETS[0]], what="Ben reads Ann's message")
    (m1,) = history(app, a, sid)
    assert m1["text"] is None and set(m1["ciphertexts"]) == {ben_dev["id"], phone.id}
    assert open_sealed(phone, m1["ciphertexts"][phone.id]) == SECRETS[0]

    # Ben -> Ann, both of her devices.
    send(ben, SECRETS[1])
    ann.wait(lambda: secret_texts(ann) == SECRETS[:2], what="Ann reads Ben's reply")
    ben.wait(lambda: secret_texts(ben) == SECRETS[:2], what="Ben's own reply")
    m2 = history(app, b, sid)[1]
    assert set(m2["ciphertexts"]) == {ann_dev["id"], phone.id}
    assert open_sealed(phone, m2["ciphertexts"][phone.id]) == SECRETS[1]

    # The PyNaCl phone writes to Ben's device and Ann's browser: both read it.
    cts = {}
    for bundle in [app.api("GET", f"/api/users/{b['user']['id']}/keys", token=a["access_token"])[1]["bundles"][0],
                   app.api("GET", f"/api/users/{a['user']['id']}/keys/{ann_dev['id']}", token=a["access_token"])[1]["bundle"]]:
        key, header = phone.initiate(bundle)
        cts[bundle["device_id"]] = seal(key, header, SECRETS[2])
    st, _ = app.api("POST", f"/api/conversations/{sid}/messages", {"ciphertexts": cts}, token=a["access_token"])
    assert st == 201
    ben.wait(lambda: secret_texts(ben) == SECRETS, what="Ben reads the phone's message")
    ann.wait(lambda: secret_texts(ann) == SECRETS, what="Ann's browser reads her phone's message")

    # Something that is not for this browser's keys: a placeholder, the view goes on.
    st, _ = app.api("POST", f"/api/conversations/{sid}/messages", {"ciphertexts": {ben_dev["id"]: "QUJD"}},
                    token=a["access_token"])
    assert st == 201
    ben.wait(lambda: ben.all("[data-test=undecryptable]"), what="the placeholder")
    assert "format" in ben.find("[data-test=undecryptable]").text
    # Sealed right, but with keys the directory does not list for Ann (what a server
    # writing in her name would do): not shown as hers.
    rogue = Device()
    bundle = app.api("GET", f"/api/users/{b['user']['id']}/keys", token=a["access_token"])[1]["bundles"][0]
    key, header = rogue.initiate(bundle)
    st, _ = app.api("POST", f"/api/conversations/{sid}/messages",
                    {"ciphertexts": {ben_dev["id"]: seal(key, header, "forged")}}, token=a["access_token"])
    assert st == 201
    ben.wait(lambda: len(ben.all("[data-test=undecryptable]")) == 2, what="the forged message refused")
    assert "not one of Ann Cipher" in ben.all("[data-test=undecryptable]")[1].text
    assert "forged" not in ben.find("[data-test=messages]").text
    send(ben, "still here")
    ann.wait(lambda: secret_texts(ann)[-1:] == ["still here"], what="the chat going on")

    ben.shot("secret-chat-e2e")
    # The safety number is the same on both sides.
    numbers = []
    for page in (ann, ben):
        page.find("[data-test=safety-button]").click()
        numbers.append(page.find("[data-test=safety-number]").text)
    assert numbers[0] == numbers[1] and len(numbers[0].split()) == 12
    assert len(ann.all("[data-test=my-keys] li")) == 2 and len(ben.all("[data-test=their-keys] li")) == 2
    ann.shot("secret-e2e-ann")
    ben.shot("secret-e2e-ben")

    # A reload reads the history again from the keys in IndexedDB. Ben's signed prekey
    # is made a week old first: the reload replaces it, and a message sealed with the
    # old one (its bundle fetched before) still opens.
    st, body = app.api("GET", f"/api/users/{b['user']['id']}/keys/{ben_dev['id']}", token=a["access_token"])
    old_bundle = body["bundle"]
    assert ben.d.execute_async_script(AGE_SPK, b["user"]["id"])
    ben.open(f"/c/{sid}")
    ben.wait(lambda: secret_texts(ben) == SECRETS + ["still here"], what="Ben's history after a reload")
    ben.wait(lambda: len(ben.all("[data-test=undecryptable]")) == 2, what="both placeholders after a reload")
    ben.wait(lambda: devices(app, b)[0]["signed_prekey"] != old_bundle["signed_prekey"], what="a new signed prekey")
    key, header = phone.initiate(old_bundle)
    st, _ = app.api("POST", f"/api/conversations/{sid}/messages",
                    {"ciphertexts": {ben_dev["id"]: seal(key, header, "old prekey")}}, token=a["access_token"])
    assert st == 201
    ben.wait(lambda: secret_texts(ben)[-1:] == ["old prekey"], what="the old signed prekey's message")

    # keys.low: Ann fetches Ben's bundles until fewer than 10 one-time prekeys are left;
    # his browser uploads a batch.
    left = devices(app, b)[0]["one_time_prekeys"]
    bulk(app, a["access_token"], [("GET", f"/api/users/{b['user']['id']}/keys", None)] * (left - 5))
    ben.wait(lambda: devices(app, b)[0]["one_time_prekeys"] > 50, what="Ben's browser to upload prekeys")

    # No plaintext in the store, and the pages logged no errors.
    assert stored_plaintext(app.server, SECRETS + ["still here", "old prekey"]) == set()
    assert not ann.severe() and not ben.severe()
