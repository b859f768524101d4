"""The hostile-input corpus (issue 20): generated bad inputs per class, run in subprocesses."""
