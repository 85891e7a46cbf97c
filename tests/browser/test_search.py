"""Message search in the inbox sidebar: the box lists matches with their snippets,
the highlighted words drawn from the server's code-point ranges as <mark> elements
(text, never markup), and a result opens its conversation at that message, far
back in a long history."""
import uuid

from conftest import bulk, retype


def seed(app):
    tag = uuid.uuid4().hex[:6]
    a = app.server.signup(name=f"Ann {tag}", email=f"ann.{tag}@example.com")
    b = app.server.signup(name=f"Ben {tag}", email=f"ben.{tag}@example.com")
    conv = bulk(app, a["access_token"], [
        ("POST", "/api/conversations", {"type": "direct", "participant_id": b["user"]["id"]})])[0]
    cid = conv["conversation"]["id"]
    texts = [f"filler message number {i}" for i in range(1, 81)]
    texts[9] = "Le 🎉 CAFÉ crème est prêt, <b>pour</b> toi"  # seq 10, far above the newest
    texts[40] = "Un autre café plus tard"
    bulk(app, b["access_token"],
         [("POST", f"/api/conversations/{cid}/messages", {"text": t}) for t in texts])
    return a, cid


def test_search_lists_highlighted_snippets_and_opens_the_message(browser_factory, app):
    a, cid = seed(app)
    page = browser_factory()
    page.login_token(a)
    page.open("/inbox")
    page.find("[data-test=conv-row]")

    box = page.find("[data-test=search-input]")
    box.send_keys("?! …")
    page.wait(lambda: page.find("[data-test=search-status]").text == "Type a word to search for.",
              what="a query without words is refused before asking")
    retype(box, "cafe")
    page.wait(lambda: len(page.all("[data-test=search-hit]")) == 2, what="two results")
    # The conversation list gives way to the results while a query is open.
    assert not page.all("[data-test=conv-row]")
    snippets = page.js("""return [...document.querySelectorAll('[data-test=search-snippet]')].map(
        (s) => ({text: s.textContent, marks: [...s.querySelectorAll('mark')].map((m) => m.textContent),
                 elements: [...s.querySelectorAll('*')].map((e) => e.tagName)}))""")
    by_text = {s["text"]: s for s in snippets}
    first = by_text["Le 🎉 CAFÉ crème est prêt, <b>pour</b> toi"]
    # The emoji is one code point before the match: the mark covers exactly the word,
    # and the message's own angle brackets stay text.
    assert first["marks"] == ["CAFÉ"] and first["elements"] == ["MARK"]
    assert by_text["Un autre café plus tard"]["marks"] == ["café"]
    page.shot("search")

    hit = [e for e in page.all("[data-test=search-hit]") if e.get_attribute("data-seq") == "10"][0]
    hit.click()
    page.wait(lambda: f"/c/{cid}" in page.d.current_url, what="the chat to open")
    node = page.find("[data-test=messages] [data-seq='10']")
    page.wait(lambda: "focused" in (node.get_attribute("class") or ""), what="the message marked")
    # Opened at the message: it is on screen, and the newest messages are not loaded yet.
    visible = page.js("""const n = arguments[0], box = n.closest('[data-test=messages]');
        const r = n.getBoundingClientRect(), b = box.getBoundingClientRect();
        return r.bottom > b.top && r.top < b.bottom;""", node)
    assert visible
    assert not page.all("[data-test=messages] [data-seq='80']")
    page.shot("search-opened")
    assert not page.severe(), page.severe()
