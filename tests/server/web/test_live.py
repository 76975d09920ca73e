"""SSE messages of the live pages, and what a reconnecting browser says it holds."""

from __future__ import annotations

from stageline.server.web.live import digest, event, held


def test_every_line_of_a_fragment_is_a_data_field() -> None:
    assert event("log", "<p>a</p>\n<p>b</p>", "log=1") == (
        "id: log=1\nevent: log\ndata: <p>a</p>\ndata: <p>b</p>\n\n"
    )
    assert event("done", "") == "event: done\ndata: \n\n"


def test_the_last_event_id_names_the_fragments_held() -> None:
    mark = digest("<p>x</p>")
    assert len(mark) == 16 and mark != digest("<p>y</p>")
    assert held(f"body={mark};panel=ab") == {"body": mark, "panel": "ab"}
    assert held(None) == {} and held("") == {} and held("junk;=x;y=") == {}
