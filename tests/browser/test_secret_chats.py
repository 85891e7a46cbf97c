"""Secret chats in the web client (issue 20, point 1): the inbox lists a secret
conversation with a padlock and no preview text, and the conversation says its
messages are end-to-end encrypted; a message sealed for no device of this browser
shows a placeholder, not its ciphertext, and a user with no device with keys cannot be
written to yet (test_secret_e2e.py has the real exchange)."""


def test_secret_chat_is_listed_locked_and_unreadable(app, browser_factory):
    a = app.server.signup(name="Ann Secret")
    b = app.server.signup(name="Ben Secret")
    st, body = app.api("POST", "/api/conversations",
                       {"type": "secret", "participant_id": b["user"]["id"]}, token=a["access_token"])
    assert st == 201
    sid = body["conversation"]["id"]
    st, _ = app.api("POST", f"/api/conversations/{sid}/messages",
                    {"ciphertexts": {"devA": "c2VhbGVkLWJ5dGVz"}}, token=b["access_token"])
    assert st == 201
    st, body = app.api("POST", "/api/conversations",
                       {"type": "direct", "participant_id": b["user"]["id"]}, token=a["access_token"])
    assert st in (200, 201)

    ann = browser_factory()
    ann.login_token(a)
    ann.open("/inbox")
    ann.wait(lambda: len(ann.all("[data-test=conv-row]")) == 2, what="both conversations")
    row = ann.find(f"[data-test=conv-row][data-id='{sid}']")
    assert row.find_elements("css selector", "[data-test=lock-icon]")
    assert "End-to-end encrypted message" in row.text and "c2VhbGVk" not in row.text
    assert "Ben Secret" in row.text  # named after the other user, as a direct chat is
    ann.shot("secret-inbox")
    row.click()
    ann.find("[data-test=secret-note]")
    ann.wait(lambda: ann.all("[data-test=undecryptable]"), what="the placeholder")
    assert "Not encrypted for this browser" in ann.find("[data-test=undecryptable]").text
    assert "end-to-end encrypted" in ann.find("[data-test=secret-note]").text
    assert ann.find("[data-test=secret-badge]").text.strip().lower() == "secret"
    assert ann.find("[data-test=composer]")
    assert "c2VhbGVk" not in ann.find("body").text
    # Ben has no device with keys yet: nothing can be sealed for him, and Ann is told so.
    ann.find("[data-test=composer]").send_keys("hello?\n")
    err = ann.find("[data-test=composer-error]")
    assert "Ben Secret cannot receive secret messages yet" in err.text
    assert ann.find("[data-test=composer]").get_attribute("value") == "hello?"
    ann.shot("secret-chat")
    assert not ann.severe()
