"""The shared fixtures keep one test from changing the process for the tests after it."""

from __future__ import annotations

pytest_plugins = ["pytester"]

APP = '''
import os
import pathlib

import streamlit as st

if __name__ == "__mp_main__":  # run again by a spawned worker as its main module
    pathlib.Path(os.environ["APP_RAN_IN_WORKER"]).write_text("yes")
st.write("a page")
'''

TESTS = '''
import multiprocessing
import os
import sys

from streamlit.testing.v1 import AppTest


def test_1_runs_a_page(tmp_path_factory):
    AppTest.from_file(os.environ["APP_SCRIPT"]).run()
    assert sys.modules["__main__"].__file__ == os.environ["APP_SCRIPT"]  # what AppTest leaves behind


def test_2_spawns_a_worker():
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(os.getpid) != os.getpid()
'''


def test_a_page_run_by_apptest_is_not_run_again_by_a_later_tests_spawned_workers(pytester, tmp_path, monkeypatch):
    app = tmp_path / "page.py"
    app.write_text(APP)
    marker = tmp_path / "ran-in-worker"
    monkeypatch.setenv("APP_SCRIPT", str(app))
    monkeypatch.setenv("APP_RAN_IN_WORKER", str(marker))
    pytester.makepyfile(test_pair=TESTS)
    result = pytester.runpytest_inprocess("-p", "tests.conftest", "-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)
    assert not marker.exists(), "a spawned worker ran the page script that AppTest had left as __main__"
