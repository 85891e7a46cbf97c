"""Two people in two browsers: sign up, start a direct chat, talk live, see typing
and read ticks, reload and find the same history; then the server restarts under
them and nothing sent meanwhile is lost or doubled."""
import time
import uuid

from selenium.webdriver.common.keys import Keys

from conftest import PASSWORD, bulk


def signup_pair(browser_factory):
    tag = uuid.uuid4().hex[:6]
    alice, bob = browser_factory(), browser_factory()
    names = (f"Alice {tag}", f"Bob {tag}")
    emails = (f"alice.{tag}@example.com", f"bob.{tag}@example.com")
    alice.signup_ui(names[0], emails[0])
    alice.wait(lambda: "/inbox" in alice.d.current_url, what="alice in the inbox")
    bob.signup_ui(names[1], emails[1])
    bob.wait(lambda: "/inbox" in bob.d.current_url, what="bob in the inbox")
    return alice, bob, names, emails


def start_direct(page, other_name):
    page.find("[data-test=new-chat]").click()
    page.find("[data-test=user-search]").send_keys(other_name)
    page.find("[data-test=pick-user]").click()
    page.wait(lambda: "/c/" in page.d.current_url, what="the chat to open")
    page.wait(lambda: page.find("[data-test=chat-title]").text == other_name, what="chat title")


def send(page, text):
    box = page.find("[data-test=composer]")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def bubbles(page):
    return page.texts("[data-test=messages] [data-test=bubble]")


def test_two_people_chat_live(browser_factory):
    alice, bob, names, _ = signup_pair(browser_factory)
    alice.shot("inbox-empty")
    start_direct(alice, names[1])

    send(alice, "Hello Bob")
    alice.wait(lambda: alice.all("[data-test=tick-sent], [data-test=tick-read]"), what="sent tick")
    # Bob's inbox shows the new conversation live, with one unread message.
    row = bob.find("[data-test=conv-row]")
    bob.wait(lambda: names[0] in row.text and "Hello Bob" in row.text, what="conversation in Bob's inbox")
    assert bob.find("[data-test=unread]").text == "1"
    bob.shot("inbox")
    row.click()
    bob.wait(lambda: bubbles(bob) == ["Hello Bob"], what="Bob sees the message")
    # Bob has read it: Alice's message turns read.
    alice.wait(lambda: alice.all("[data-test=tick-read]"), what="read tick")

    # Typing shows on the other side and expires by itself.
    bob.find("[data-test=composer]").send_keys("Hi Ali")
    alice.wait(lambda: f"{names[1]} is typing" in alice.find("[data-test=typing]").text, what="typing")
    alice.wait(lambda: alice.find("[data-test=typing]").text == "", timeout=12, what="typing to expire")
    bob.find("[data-test=composer]").send_keys("ce" + Keys.ENTER)
    alice.wait(lambda: bubbles(alice) == ["Hello Bob", "Hi Alice"], what="Bob's reply")
    send(alice, "How are you?")
    bob.wait(lambda: bubbles(bob) == ["Hello Bob", "Hi Alice", "How are you?"], what="third message")
    assert alice.all("[data-test=day]"), "a day separator heads the history"
    alice.shot("chat")

    # A reload keeps the login and shows the same history.
    before = bubbles(alice)
    alice.d.refresh()
    alice.wait(lambda: bubbles(alice) == before, what="history after reload")
    assert alice.find("[data-test=chat-title]").text == names[1]
    assert not alice.severe(), alice.severe()
    assert not bob.severe(), bob.severe()


def test_server_restart_loses_and_doubles_nothing(app, browser_factory):
    alice, bob, names, emails = signup_pair(browser_factory)
    start_direct(alice, names[1])
    send(alice, "before 1")
    bob.find("[data-test=conv-row]").click()
    bob.wait(lambda: bubbles(bob) == ["before 1"], what="first message")
    conv_id = alice.d.current_url.rsplit("/", 1)[1]

    def while_down():
        for p in (alice, bob):
            p.wait(lambda p=p: p.all("[data-test=conn-banner]"), what="reconnecting banner")
        alice.shot("reconnecting")
        # Typed while the server is away: held and sent once it is back.
        send(alice, "during 1")
        send(alice, "during 2")

    app.restart(during=while_down)
    # Bob writes by REST before the browsers are back: they recover it by sync.
    st, s = app.api("POST", "/api/auth/login", {"email": emails[1], "password": PASSWORD})
    assert st == 200
    bulk(app, s["access_token"], [("POST", f"/api/conversations/{conv_id}/messages",
                                   {"text": f"meanwhile {i}", "client_id": uuid.uuid4().hex}) for i in (1, 2)])
    for p in (alice, bob):
        p.wait(lambda p=p: not p.all("[data-test=conn-banner]"), timeout=40, what="reconnected")
    expected = {"before 1", "during 1", "during 2", "meanwhile 1", "meanwhile 2"}
    for p in (alice, bob):
        p.wait(lambda p=p: set(bubbles(p)) == expected and len(bubbles(p)) == 5, timeout=20,
               what="every message once")
        seqs = [int(x) for x in p.js("return [...document.querySelectorAll('[data-test=msg][data-seq]')]"
                                     ".map(e => e.dataset.seq)")]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5, seqs
    # Alice's two held messages went in the order she typed them.
    texts = bubbles(bob)
    assert texts.index("during 1") < texts.index("during 2")
    # And the server stored each once.
    st, page = app.api("GET", f"/api/conversations/{conv_id}/messages", token=s["access_token"])
    assert [m["text"] for m in page["messages"]].count("during 1") == 1
