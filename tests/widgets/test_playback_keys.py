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
    assert SHORTCUTS == {" ": "space", "ArrowRight": "right", "ArrowLeft": "left"}
    assert shortcut_event("space", running=False) == "run"
    assert shortcut_event("space", running=True) == "pause"
    assert shortcut_event("right", running=False) == "step"
    assert shortcut_event("left", running=True) == "step_back"


def test_key_presses_from_the_browser_drive_the_session(session):
    controls = ControlsView(session)
    keys = controls.keys
    assert isinstance(keys, KeyboardShortcuts)
    session.reset_run = True
    keys.right += 1
    keys.right += 1
    keys.left += 1  # as the page's listener counts the presses
    assert session.t == 1
    keys.right += 3  # presses merged by a busy server still all count
    assert session.t == 4
    keys.space += 1
    assert session.running
    keys.space += 1
    assert not session.running
    keys.space += 2  # Run and Pause merged: not running
    assert not session.running and session.t >= 4
