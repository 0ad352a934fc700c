"""Batch augmentation: shapes, value ranges, seeded, each change does what it says."""

from __future__ import annotations

import time

import torch

from cnnstudio.core.train import AugmentConfig, augment_batch


def _batch(n=16, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g).float()


def test_shape_dtype_and_range_are_kept():
    x = _batch()
    out = augment_batch(x, AugmentConfig.default(), torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 255
    assert not torch.equal(out, x)


def test_same_seed_same_result_different_seed_different():
    x = _batch()
    cfg = AugmentConfig.default()
    a = augment_batch(x, cfg, torch.Generator().manual_seed(3))
    b = augment_batch(x, cfg, torch.Generator().manual_seed(3))
    c = augment_batch(x, cfg, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_each_image_gets_its_own_change():
    x = _batch(n=1).expand(8, -1, -1, -1).contiguous()
    out = augment_batch(x, AugmentConfig(rotation=30), torch.Generator().manual_seed(0))
    assert len({round(float(img.sum()), 1) for img in out}) == 8


def test_none_returns_the_batch_unchanged():
    x = _batch()
    assert augment_batch(x, AugmentConfig.none(), torch.Generator()) is x


def test_flip_only_mirrors_exactly():
    x = _batch(n=64, size=8)
    out = augment_batch(x, AugmentConfig(hflip=True), torch.Generator().manual_seed(0))
    flipped = sum(torch.allclose(o, i.flip(-1), atol=1e-3) for o, i in zip(out, x, strict=True))
    kept = sum(torch.allclose(o, i, atol=1e-3) for o, i in zip(out, x, strict=True))
    assert flipped + kept == 64 and 16 < flipped < 48


def test_brightness_shifts_and_contrast_keeps_the_mean():
    x = torch.full((32, 3, 8, 8), 100.0)
    x[:, :, :4] = 140.0
    bright = augment_batch(x, AugmentConfig(brightness=0.2), torch.Generator().manual_seed(0))
    shift = (bright - x).mean(dim=(1, 2, 3))
    assert shift.abs().max() <= 0.2 * 255 + 1e-3 and shift.std() > 1
    contrast = augment_batch(x, AugmentConfig(contrast=0.5), torch.Generator().manual_seed(0))
    assert torch.allclose(contrast.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=1e-3)
    spread = contrast.amax(dim=(1, 2, 3)) - contrast.amin(dim=(1, 2, 3))
    assert spread.min() >= 40 * 0.5 - 1e-3 and spread.max() <= 40 * 1.5 + 1e-3 and spread.std() > 1


def test_zero_to_one_images_for_a_preview_grid():
    x = _batch() / 255
    out = augment_batch(x, AugmentConfig.default(), torch.Generator().manual_seed(0), value_range=1.0)
    assert out.min() >= 0 and out.max() <= 1


def test_non_square_images_keep_their_shape():
    x = torch.rand(4, 1, 12, 30) * 255
    assert augment_batch(x, AugmentConfig.default(), torch.Generator()).shape == (4, 1, 12, 30)


def test_augmenting_a_batch_is_cheap():
    x = _batch(n=32, size=64)
    cfg, g = AugmentConfig.default(), torch.Generator().manual_seed(0)
    augment_batch(x, cfg, g)
    start = time.perf_counter()
    for _ in range(10):
        augment_batch(x, cfg, g)
    # ~3 ms a batch here; a generous bound for a busy shared machine.
    assert (time.perf_counter() - start) / 10 < 0.1
