"""Step back and the keyboard shortcuts (space = Run/Pause, arrows = Step/Back), server side."""

import pytest

from widgets.controls import SHORTCUTS, ControlsView, KeyboardShortcuts, shortcut_event
from widgets.session import Session


@pytest.fixture(scope="module")
def session(one_thread):
    return Session(model="digits-mlp", timesteps=30)


def test_step_back_moves_the_cursor_back_one_step_and_stops_run(session):
    session.reset_run = True
    session.step = True
    session.step = True
    session.step_back = True
    assert session.t == 1
    session.run = True
    session.tick()
    assert session.running
    t = session.t
    session.step_back = True
    assert not session.running, "Back did not stop Run"
    assert session.t == t - 1
    session.reset_run = True
    session.step_back = True
    assert session.t == 0, "Back moved the cursor below 0"


def test_shortcut_keys_map_to_session_events():
    assert shortcut_event(" ", running=False) == "run"
    assert shortcut_event(" ", running=True) == "pause"
    assert shortcut_event("ArrowRight", running=False) == "step"
    assert shortcut_event("ArrowLeft", running=True) == "step_back"
    assert shortcut_event("a", running=False) is None
    assert set(SHORTCUTS) == {" ", "ArrowRight", "ArrowLeft"}


def test_keys_from_the_browser_drive_the_session(session):
    controls = ControlsView(session)
    assert isinstance(controls.keys, KeyboardShortcuts)
    session.reset_run = True
    for i, key in enumerate(["ArrowRight", "ArrowRight", "ArrowLeft"]):
        controls.keys.key = f"{key}@{i}"  # as the page's listener reports a press
    assert session.t == 1
    controls.keys.key = " @10"
    assert session.running
    controls.keys.key = " @11"
    assert not session.running
    controls.keys.key = "garbage without a key@12"
    assert session.t == 1 and not session.running
