"""Deep model pieces: Spec-ResNet size, ResNet stems and pretrained files, the model file, augmentation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from audiokit.errors import AudiokitError, ModelFileError, ParameterError, UsageError  # noqa: E402
from audiokit.features import FeatureConfig  # noqa: E402
from audiokit.models import deep as dm  # noqa: E402
from audiokit.models.resnet import build_resnet, imagenet_cache_file, pretrained_state  # noqa: E402
from audiokit.models.specresnet import WIDTHS, SpecResNet  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_specresnet_has_the_papers_size_and_layout():
    net = SpecResNet(n_classes=6)
    n = sum(p.numel() for p in net.parameters())
    # The paper: 1,404,678 parameters for six emotions; ours is within 1 %.
    assert abs(n - 1_404_678) / 1_404_678 < 0.01, n
    assert n == 1_413_894
    assert WIDTHS == (64, 96, 128, 256)
    stem = net.stem[0]
    assert stem.kernel_size == (7, 7) and stem.stride == (2, 2) and stem.in_channels == 1
    assert isinstance(net.stem[3], torch.nn.MaxPool2d) and net.stem[3].kernel_size == 3 and net.stem[3].stride == 2
    blocks = [net.stage1, net.stage2, net.stage3, net.stage4]
    assert isinstance(blocks[0].skip, torch.nn.Identity)  # identity skip where shapes agree
    assert all(isinstance(b.skip, torch.nn.Sequential) for b in blocks[1:])  # 1x1 projections elsewhere
    assert all(b.conv1.kernel_size == (3, 3) and b.conv2.kernel_size == (3, 3) for b in blocks)
    assert net.fc.in_features == 256 and net.fc.out_features == 6
    assert net(torch.zeros(3, 1, 40, 27)).shape == (3, 6)  # any input size (global average pooling)


def _random_torchvision_state(arch: str, path, seed: int = 0):
    import torchvision

    torch.manual_seed(seed)
    sd = getattr(torchvision.models, arch)(weights=None).state_dict()
    torch.save(sd, path)
    return sd


@pytest.mark.slow
def test_sum_stem_adds_the_rgb_kernels_of_a_local_weights_file(tmp_path):
    f = tmp_path / "r18.pth"
    sd = _random_torchvision_state("resnet18", f)
    net = build_resnet("resnet18", n_classes=5, stem="sum", pretrained=str(f))
    assert net.conv1.weight.shape == (64, 1, 7, 7)
    assert torch.allclose(net.conv1.weight, sd["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(net.layer3[1].conv2.weight, sd["layer3.1.conv2.weight"])
    assert torch.equal(net.bn1.running_var, sd["bn1.running_var"])
    assert net.fc.out_features == 5 and net.fc.in_features == 512  # the FC is replaced

    # A grey image through the summed kernel = the same image repeated on RGB through the original.
    rep = build_resnet("resnet18", n_classes=5, stem="repeat", pretrained=str(f))
    assert torch.equal(rep.conv1.weight, sd["conv1.weight"])
    x = torch.randn(2, 1, 32, 32)
    assert torch.allclose(net.conv1(x), rep.conv1(x.expand(-1, 3, -1, -1)), atol=1e-4)


def test_pretrained_file_of_another_architecture_is_refused(tmp_path):
    f = tmp_path / "r34.pth"
    _random_torchvision_state("resnet34", f)
    with pytest.raises(AudiokitError) as e:
        pretrained_state("resnet18", str(f))
    msg = str(e.value)
    assert "r34.pth" in msg and "not a resnet18 state dict" in msg and "resnet34" in msg
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(AudiokitError, match="not a loadable PyTorch state dict"):
        pretrained_state("resnet18", str(junk))
    with pytest.raises(UsageError, match="no such file"):
        pretrained_state("resnet18", str(tmp_path / "missing.pth"))


def test_imagenet_weights_come_from_torchvisions_cache(tmp_path, monkeypatch):
    # torchvision's weights API reads $TORCH_HOME/hub/checkpoints/<file of the URL> when it exists:
    # a file placed there (random weights, same layout) is used with no download.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = imagenet_cache_file("resnet18")
    assert cache.startswith(str(tmp_path)) and cache.endswith(".pth")
    import os

    os.makedirs(os.path.dirname(cache))
    sd = _random_torchvision_state("resnet18", cache, seed=3)
    state, desc = pretrained_state("resnet18", "imagenet")
    assert desc.startswith("imagenet") and torch.equal(state["layer1.0.conv1.weight"], sd["layer1.0.conv1.weight"])


def test_frontends_normalise_as_documented():
    net = dm.build_network("resnet18", n_classes=3, in_shape=(16, 20), stem="repeat", input_size="24/20")
    f = net.frontend
    f.set_stats(mean=-40.0, std=20.0, lo=-80.0, hi=0.0)
    x = torch.full((1, 16, 20), -40.0)  # mid-range: 0.5 as an image
    z = f(x)
    assert z.shape == (1, 3, 20, 20)  # resized to 24x24, centre-cropped to 20x20, three channels
    expect = (0.5 - torch.tensor(dm.IMAGENET_MEAN)) / torch.tensor(dm.IMAGENET_STD)
    assert torch.allclose(z[0, :, 5, 5], expect, atol=1e-5)
    s = dm.build_network("specresnet", n_classes=3, in_shape=(16, 20)).frontend
    s.set_stats(mean=-40.0, std=20.0, lo=-80.0, hi=0.0)
    assert torch.allclose(s(torch.full((1, 16, 20), -20.0)), torch.ones(1, 1, 16, 20))
    # item: each item's own mean and std (the training statistics play no part), so a level offset drops out
    params = dm.network_params("specresnet", n_classes=3, in_shape=(16, 20), normalize="item")
    assert params["frontend"] == "item"
    i = dm.build_network("specresnet", n_classes=3, in_shape=(16, 20), params=params).frontend
    i.set_stats(mean=-40.0, std=20.0, lo=-80.0, hi=0.0)
    x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0)) * 7 - 50
    z = i(x)
    expect = (x - x.mean(dim=(1, 2), keepdim=True)) / x.std(dim=(1, 2), keepdim=True)
    assert torch.allclose(z[:, 0], expect, atol=1e-5)
    assert torch.allclose(i(x + 10), z, atol=1e-5) and torch.allclose(i(3 * x), z, atol=1e-5)


def test_input_size_parsing():
    assert dm.parse_input_size("none") is None
    assert dm.parse_input_size("224") == {"resize": [224, 224], "crop": None}
    assert dm.parse_input_size("128x256") == {"resize": [128, 256], "crop": None}
    for bad in ("0", "abc", "224/256", "3"):
        with pytest.raises(UsageError):
            dm.parse_input_size(bad)


def _classifier(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    params = dm.network_params(kind, n_classes=3, in_shape=(24, 18), stem="sum" if kind != "specresnet" else None)
    net = dm.build_network(kind, n_classes=3, in_shape=(24, 18), params=params)
    net.frontend.set_stats(mean=-30.0, std=15.0, lo=-80.0, hi=0.0)
    # A few train-mode passes move the BatchNorm running statistics away from their defaults.
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, 24, 18) * 15 - 30)
    cfg = FeatureConfig(kind="logmel", sr=8000, n_fft=256, hop_length=128, n_mels=24, duration=0.3)
    return dm.DeepClassifier(kind=kind, class_names=["a", "b", "c"], feature_config=cfg, net=net, params=params,
                             device="cpu")


@pytest.mark.parametrize("kind", ["specresnet", "resnet18"])
@pytest.mark.slow
def test_model_file_round_trip_gives_equal_predictions(tmp_path, kind):
    from audiokit import models
    from audiokit.modelfile import load_model, save_model

    clf = _classifier(kind)
    X = (np.random.default_rng(0).standard_normal((5, 24, 18)) * 15 - 30).astype(np.float32)
    p = clf.predict_proba(X)
    assert p.shape == (5, 3) and np.allclose(p.sum(axis=1), 1)
    path = tmp_path / "m.h5"
    save_model(str(path), clf.to_modelfile())
    mf = load_model(str(path))
    assert any(k.startswith("state_dict/frontend.mean") for k in mf.arrays)  # normalisation travels with it
    again = models.load(str(path), device="cpu")
    assert again.kind == kind and again.class_names == ["a", "b", "c"]
    assert np.array_equal(again.predict_proba(X), p)
    with pytest.raises(UsageError, match="items of shape"):
        again.predict_proba(np.zeros((2, 20, 18), np.float32))

    # A file whose weights do not fit its architecture is refused, not half-loaded.
    del mf.arrays["state_dict/backbone.fc.weight"]
    with pytest.raises(ModelFileError, match="missing"):
        dm.from_modelfile(mf, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without a GPU")
def test_cuda_without_a_gpu_is_a_clear_usage_error():
    with pytest.raises(UsageError, match="no CUDA GPU"):
        dm.resolve_device("cuda")
    with pytest.raises(ParameterError, match="^device must be") as exc:  # the library names the parameter
        dm.resolve_device("tpu")
    assert exc.value.for_cli().startswith("--device must be")
    assert dm.resolve_device("auto").type == "cpu"


def test_augmentations_are_per_item_seeded_and_shape_preserving():
    from audiokit.training.augment import Augment

    x = torch.arange(2 * 8 * 10, dtype=torch.float32).reshape(2, 8, 10)

    def run(aug, seed=0):
        return aug(x, torch.Generator().manual_seed(seed), fill=-1.0)

    full = Augment(time_shift=0.2, flip=0.5, rotate=10, specaugment=True, freq_width=3, time_width=3)
    assert torch.equal(run(full), run(full)) and not torch.equal(run(full, 0), run(full, 1))
    assert run(full).shape == x.shape
    assert torch.equal(run(Augment(flip=1.0)), x.flip(-1))
    assert torch.equal(run(Augment()), x)
    shifted = run(Augment(time_shift=0.3))
    for i in range(2):  # each row is a circular shift of the original
        assert any(torch.equal(shifted[i], torch.roll(x[i], s, dims=-1)) for s in range(-3, 4))
    rot = Augment(rotate=10)(x, torch.Generator().manual_seed(0), fill=0.0)
    assert torch.allclose(Augment(rotate=1e-9)(x, torch.Generator(), fill=0.0), x, atol=1e-3)
    assert not torch.allclose(rot, x)
    masked = run(Augment(specaugment=True, freq_masks=1, freq_width=8, time_masks=0))
    assert ((masked == -1.0) | (masked == x)).all()
    xm, t = Augment(mixup=0.4).mix(x, torch.tensor([0, 2]), 3, torch.Generator().manual_seed(0), 0.7)
    assert torch.allclose(t.sum(dim=1), torch.ones(2)) and xm.shape == x.shape
