"""Spike codes: input encoders (:mod:`.encoders`), rate, time-to-first-spike (:mod:`.ttfs`)
and temporal pattern (:mod:`.pattern`) codes, and 1-D signal encoders
(:mod:`.signal_encoders`)."""
