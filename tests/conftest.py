"""Shared fixtures: the shipped digits models and data (loaded once per test session)."""

import pytest
import torch

from spikescope import datasets, zoo

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of small-tensor tests (threads only add overhead and
    oversubscribe the shared CPU); the previous count is restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def digits():
    """(x_train, y_train, x_test, y_test) of the built-in 8x8 digits."""
    xtr, ytr = datasets.load("digits", "train")
    xte, yte = datasets.load("digits", "test")
    return xtr, ytr, xte, yte


@pytest.fixture(scope="session")
def digits_cnn():
    return zoo.load("digits-cnn")


@pytest.fixture(scope="session")
def digits_mlp():
    return zoo.load("digits-mlp")


def pytest_sessionfinish(session, exitstatus):
    """Wait for the dashboard's worker threads (evaluation, sweeps, the Jets stand-in and the
    Learning rules tab train in daemon threads) before the interpreter exits: a daemon thread
    still inside torch at exit aborts the process ("terminate called without an active
    exception") and turns a green run into a crash."""
    import threading

    for th in threading.enumerate():
        if th.daemon and th.is_alive() and th is not threading.current_thread() and (
                th.name.startswith("spikescope-") or th.name == "evaluation"):
            th.join(timeout=60)
