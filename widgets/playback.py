"""Playback of a session's recording (no Panel imports): the time cursor ``t`` and
Step/Back/Run/Pause/Reset/Random sample. The app drives Run by calling :meth:`Playback.tick`."""

from __future__ import annotations

import random
import time

import param


class Playback(param.Parameterized):
    """The time cursor and its actions; mixed into :class:`widgets.session.Session`."""

    speed = param.Integer(default=25, bounds=(1, 200), doc="Run animation speed in steps per s.")
    t = param.Integer(default=0, bounds=(0, 100), doc="Time cursor: steps shown so far (ms).")
    running = param.Boolean(default=False, doc="True while Run animates the cursor.")

    step = param.Event(doc="Advance the cursor one step.")
    step_back = param.Event(label="Back", doc="Move the cursor back one step (stops Run).")
    run = param.Event(doc="Animate the cursor until T at `speed` steps per second.")
    pause = param.Event(doc="Stop the animation.")
    reset_run = param.Event(label="Reset", doc="Move the cursor back to t = 0.")
    random_sample = param.Event(label="Random sample", doc="Pick a random test sample.")

    _tick_at: float | None = None  # perf_counter() of the last Run frame
    _tick_due: float = 0.0  # steps owed to the animation, not yet shown
    _idle_until: float = 0.0  # perf_counter() before which Run draws no frame
    _shown_t: int | None = None  # the last step the browser reported as shown (None: none)
    _sent_at: float = 0.0  # perf_counter() of the last frame sent

    @param.depends("step", watch=True)
    def _on_step(self):
        self._stop()
        self.advance(1)

    @param.depends("step_back", watch=True)
    def _on_step_back(self):
        self._stop()
        self.t = max(self.t - 1, 0)

    def advance(self, n: int = 1) -> bool:
        """Move the cursor ``n`` steps forward; False once it reached T."""
        if self.t >= self.timesteps:
            return False
        self.t = min(self.t + n, self.timesteps)
        return self.t < self.timesteps

    @param.depends("run", watch=True)
    def _on_run(self):
        if self.t >= self.timesteps:
            self.t = 0
        self._tick_at, self._tick_due = None, 0.0
        self.running = True

    @param.depends("pause", watch=True)
    def _on_pause(self):
        self._stop()

    @param.depends("reset_run", watch=True)
    def _on_reset(self):
        self._stop()
        self.t = 0

    @param.depends("random_sample", watch=True)
    def _on_random(self):
        self.sample = random.randrange(self.n_samples)

    def _stop(self):
        if self.running:
            self.running = False

    def tick(self) -> None:
        """One animation frame of Run: advance ``speed`` x (time since the last frame) steps,
        so a late frame skips steps and Run keeps ``speed`` steps/s; stop at T.

        A frame that took d seconds to compute is followed by at least d seconds without one,
        and once the browser reports what it drew (:meth:`frame_shown`) the next frame waits
        for the last one to be drawn: no frames queue up in the server or the browser, so a
        Pause click is handled within a frame instead of behind a backlog.
        """
        if not self.running:
            return
        now = time.perf_counter()
        if now < self._idle_until:
            return
        if self._shown_t is not None and self._shown_t < self.t and now - self._sent_at < 1.0:
            return  # the browser has not drawn the last frame yet: no backlog of frames
        since = None if self._tick_at is None else now - self._tick_at
        # the first frame, or one after a stall (a re-run, a busy server), counts one period
        elapsed = since if since is not None and since < 1.0 else self.period_ms() / 1000
        self._tick_at = now
        self._tick_due += self.speed * elapsed
        if since is None:  # Run shows its first step at once, also at low speeds
            self._tick_due = max(self._tick_due, 1.0)
        n = int(self._tick_due)
        if n == 0:
            return
        self._tick_due -= n
        if not self.advance(n):
            self.running = False
        self._sent_at = time.perf_counter()
        self._idle_until = self._sent_at + (self._sent_at - now)

    def frame_shown(self, t: int) -> None:
        """The browser drew the frame of step ``t`` (flow control of Run: the next frame
        waits for it, at most 1 s; without reports, as in a notebook, frames just run)."""
        self._shown_t = t

    def period_ms(self) -> int:
        """Animation frame period: one frame per step up to 20 steps/s, then 50 ms frames."""
        return int(max(50, 1000 / self.speed))
