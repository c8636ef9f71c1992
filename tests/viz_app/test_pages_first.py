"""viz_app.cache.yield_to_pages: background prefetching waits while a page runs (and just after),
never while a page waits for its result, and never longer than its cap."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("streamlit")

from viz_app import cache  # noqa: E402


@pytest.fixture(autouse=True)
def no_earlier_wants():
    """Another test's page may have polled for background results a moment ago: start from none."""
    with cache._activity:
        cache._activity_state["wanted_until"] = 0.0
    yield


def _run_page_for(seconds: float) -> threading.Thread:
    started = threading.Event()

    def page() -> None:
        with cache.foreground_run():
            started.set()
            time.sleep(seconds)

    thread = threading.Thread(target=page)
    thread.start()
    started.wait()
    return thread


def test_background_work_waits_for_a_running_page_and_a_quiet_moment_after_it():
    time.sleep(0.1)
    assert cache.yield_to_pages(quiet_s=0.05) < 0.05  # nothing runs: no wait
    page = _run_page_for(0.3)
    waited = cache.yield_to_pages(quiet_s=0.2, most_s=5)
    page.join()
    assert 0.45 <= waited < 2.0, waited  # the page's 0.3 s, then 0.2 s of quiet


def test_a_page_waiting_for_the_background_is_never_kept_waiting():
    page_started, release = threading.Event(), threading.Event()

    def page() -> None:
        with cache.foreground_run(), cache.waiting_on_background():
            page_started.set()
            release.wait(5)

    thread = threading.Thread(target=page)
    thread.start()
    page_started.wait()
    try:
        assert cache.yield_to_pages(quiet_s=0.2, most_s=5) < 0.1
    finally:
        release.set()
        thread.join()


def test_background_work_yields_at_most_its_cap():
    page = _run_page_for(1.0)
    waited = cache.yield_to_pages(quiet_s=0.2, most_s=0.3)
    page.join()
    assert 0.25 <= waited < 0.8, waited


def test_a_page_polling_for_results_keeps_the_background_going_for_a_while():
    page = _run_page_for(0.6)
    cache.want_background(for_s=0.3)
    assert cache.yield_to_pages(quiet_s=0.2, most_s=5) < 0.1  # wanted: no yielding
    time.sleep(0.35)  # the want has lapsed, the page still runs
    assert cache.yield_to_pages(quiet_s=0.05, most_s=5) > 0.05
    page.join()
