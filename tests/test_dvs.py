"""Event data: N-MNIST and AEDAT4 files, the emulator, binning and filters."""

import numpy as np
import pytest

from spikescope import dvs


def _random_events(n=500, size=(34, 34), seed=0):
    rng = np.random.default_rng(seed)
    return dvs.make_events(rng.integers(0, size[1], n), rng.integers(0, size[0], n),
                           rng.integers(0, 2, n), np.sort(rng.integers(0, 300_000, n)))


def _digit_image():
    img = np.zeros((34, 34))
    img[8:26, 12:15] = 1.0  # a "1"
    img[8:11, 10:15] = 1.0
    return img


def test_nmnist_round_trip(tmp_path):
    ev = _random_events()
    dvs.write_nmnist(tmp_path / "a.bin", ev)
    assert (tmp_path / "a.bin").stat().st_size == 5 * len(ev)
    back = dvs.read_nmnist(tmp_path / "a.bin")
    assert back.dtype == dvs.EVENT_DTYPE
    np.testing.assert_array_equal(back, ev)


def test_nmnist_bit_layout():
    # x=3, y=4, ON, t = 0x7ABCDE -> 03 04 (0x80 | 0x7A) BC DE
    ev = dvs.make_events([3], [4], [1], [0x7ABCDE])
    assert dvs.encode_nmnist(ev) == bytes([3, 4, 0xFA, 0xBC, 0xDE])


def test_nmnist_folder_layout(tmp_path):
    recs = [_random_events(50, seed=s) for s in range(4)]
    labels = [3, 1, 3, 7]
    dvs.write_nmnist_folder(tmp_path, "train", recs, labels)
    assert sorted(p.name for p in (tmp_path / "Train").iterdir()) == ["1", "3", "7"]
    got, y = dvs.read_nmnist_folder(tmp_path, "train")
    assert sorted(y.tolist()) == sorted(labels)
    assert sum(len(g) for g in got) == 200
    with pytest.raises(FileNotFoundError, match="Test"):
        dvs.read_nmnist_folder(tmp_path, "test")


def test_nmnist_bad_files(tmp_path):
    ev = _random_events(10)
    data = dvs.encode_nmnist(ev)
    (tmp_path / "trunc.bin").write_bytes(data[:-2])
    with pytest.raises(dvs.EventFileError, match="truncated"):
        dvs.read_nmnist(tmp_path / "trunc.bin")
    bad = bytearray(data)
    bad[0] = 200  # x = 200 on a 34x34 sensor
    (tmp_path / "range.bin").write_bytes(bytes(bad))
    with pytest.raises(dvs.EventFileError, match="outside the 34x34"):
        dvs.read_nmnist(tmp_path / "range.bin")
    assert len(dvs.read_nmnist(tmp_path / "range.bin", sensor_size=None)) == 10
    with pytest.raises(ValueError, match="23-bit"):
        dvs.encode_nmnist(dvs.make_events([0], [0], [1], [1 << 23]))


def test_aedat4_reading(tmp_path):
    ev = _random_events(3000, size=(20, 30), seed=1)
    path = tmp_path / "rec.aedat4"
    dvs.write_aedat4(path, ev, sensor_size=(20, 30), packet_size=1000)  # 3 packets
    assert path.read_bytes().startswith(b"#!AER-DAT4.0\r\n")
    back, size = dvs.read_aedat4(path)
    assert size == (20, 30)
    np.testing.assert_array_equal(back, ev)


def test_aedat4_bad_file(tmp_path):
    (tmp_path / "x.aedat4").write_bytes(b"not an aedat file at all")
    with pytest.raises(dvs.EventFileError, match="AEDAT4"):
        dvs.read_aedat4(tmp_path / "x.aedat4")


@pytest.mark.parametrize("mode", ["time", "count"])
def test_binning_conserves_event_count(mode):
    ev = _random_events(1001)
    frames = dvs.bin_events(ev, 7, mode=mode)
    assert frames.shape == (7, 2, 34, 34)
    assert frames.sum() == len(ev)
    assert frames[:, 1].sum() == ev["p"].sum()  # channel 1 = ON
    if mode == "count":
        per_bin = frames.sum(axis=(1, 2, 3))
        assert per_bin.max() - per_bin.min() <= 1


def test_time_binning_windows():
    ev = dvs.make_events([0, 1, 2], [0, 0, 0], [1, 0, 1], [0, 499, 500])
    frames = dvs.bin_events(ev, 2, mode="time", t_start_us=0, duration_us=1000)
    assert frames[0].sum() == 2 and frames[1].sum() == 1
    assert frames[0, 0, 0, 1] == 1  # the OFF event at x=1 lands in channel 0


def test_emulator_static_image_gives_no_events():
    assert len(dvs.emulate(_digit_image(), amplitude_px=0.0)) == 0
    flat = np.full((10, 12, 12), 0.7)
    assert len(dvs.emulate_video(flat, np.arange(10) * 1000.0)) == 0


def test_emulator_on_where_brightening_off_where_darkening():
    frames = np.full((20, 8, 8), 0.5)
    ramp = np.linspace(0, 1, 20)
    frames[:, 2, 3] = 0.2 + 0.8 * ramp  # brightens
    frames[:, 5, 6] = 1.0 - 0.9 * ramp  # darkens
    ev = dvs.emulate_video(frames, np.arange(20) * 1000.0, refractory_us=0)
    assert len(ev) > 0
    assert set(zip(ev["x"].tolist(), ev["y"].tolist())) == {(3, 2), (6, 5)}
    assert (ev["p"][(ev["x"] == 3)] == 1).all(), "brightening pixel must emit only ON events"
    assert (ev["p"][(ev["x"] == 6)] == 0).all(), "darkening pixel must emit only OFF events"
    # total log change / threshold bounds the count: log(1.1/0.3) / 0.2 -> 6 events
    assert (ev["x"] == 3).sum() == int(np.log(1.1 / 0.3) / 0.2)


def test_emulator_more_events_for_higher_contrast():
    counts = [len(dvs.emulate(_digit_image() * c)) for c in (0.1, 0.3, 1.0)]
    assert counts[0] < counts[1] < counts[2], counts
    ev = dvs.emulate(_digit_image())
    assert ev["t"].max() <= 300_000 and np.all(np.diff(ev["t"]) >= 0)
    assert 0.3 < ev["p"].mean() < 0.7  # moving edges give both polarities


def test_emulator_refractory_and_noise():
    img = _digit_image()
    ev = dvs.emulate(img, refractory_us=5000)
    per_pixel = dvs.refractory_filter(ev, 5000)
    assert len(per_pixel) == len(ev), "emulated pixels already respect the refractory time"
    noisy = dvs.emulate(img, noise_rate_hz=10.0, seed=3)
    extra = len(noisy) - len(dvs.emulate(img))
    expected = 10.0 * 0.3 * 34 * 34
    assert abs(extra - expected) < 5 * np.sqrt(expected)


def test_hot_pixel_and_refractory_filters():
    ev = _random_events(400)
    hot = dvs.make_events(np.full(300, 5), np.full(300, 9), np.ones(300),
                          np.arange(300) * 10)
    both = dvs.make_events(*(np.concatenate([ev[f], hot[f]]) for f in "xypt"))
    clean = dvs.filter_hot_pixels(both)
    assert not ((clean["x"] == 5) & (clean["y"] == 9)).any()
    assert len(clean) >= len(ev) - 5
    kept = dvs.refractory_filter(hot, 100)
    assert len(kept) == 30  # one event per 100 us from a pixel firing every 10 us


def test_clip_sigma():
    frames = np.ones((2, 2, 10, 10), np.float32)
    frames[0, 0, 0, 0] = 1000
    out = dvs.clip_sigma(frames)
    nz = frames[0].ravel()
    assert out[0, 0, 0, 0] == pytest.approx(nz.mean() + 3 * nz.std(), rel=1e-5)
    np.testing.assert_array_equal(out[1], frames[1])
    assert out.dtype == frames.dtype
