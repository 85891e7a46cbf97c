"""The write delay (config/README.md, ws_write_delay_ms): frames wait for it only
while the loop is loaded, so an idle server sends at once even with the longest
delay allowed. Waits up to the bound under load are covered by the session's
unit test (tests/unit/ws/test_ws_session.c)."""
import asyncio
import statistics
import time

from messaging_helpers import Client, create_direct, metric, run

DELAY_MS = 50  # the largest allowed: a delayed frame could not hide in the noise


def test_an_idle_server_never_delays_a_frame(start_server):
    srv = start_server(env={"PARLEY_WS_WRITE_DELAY_MS": str(DELAY_MS)})
    a, b = srv.signup(), srv.signup()
    cid = create_direct(srv, a, b)["id"]

    async def main():
        a1, b1 = await Client.connect(srv, a), await Client.connect(srv, b)
        await asyncio.sleep(0.2)  # the sessions' own frames are out; the loop is idle
        before = metric(srv, "parley_ws_write_delays_total")
        acks, news = [], []
        for i in range(20):
            t0 = time.monotonic()
            await a1.send({"type": "message.send", "conversation_id": cid, "text": f"m{i}",
                           "client_id": f"d{i}"})
            await a1.expect("message.ack", client_id=f"d{i}")
            acks.append(time.monotonic() - t0)
            new = await b1.expect("message.new")
            assert new["message"]["text"] == f"m{i}"
            news.append(time.monotonic() - t0)
            await asyncio.sleep(0.05)
        assert metric(srv, "parley_ws_write_delays_total") == before
        # Each frame waits for its store commit only, well under the delay.
        assert statistics.median(acks) * 1000 < DELAY_MS / 2, acks
        assert statistics.median(news) * 1000 < DELAY_MS / 2, news
        await a1.close()
        await b1.close()

    run(main())
