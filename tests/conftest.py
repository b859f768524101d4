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
