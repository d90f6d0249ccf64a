"""Whole models: every convolution counted on its own input shape, nothing silently dropped."""

import torch
from torch import nn

import convops
from convops_book.models import UNet, resnet50
from convops.reference import flop_counter_flops


def _check_layer_by_layer(model, shape):
    profile = convops.profile(model, shape)
    inputs = {}
    hooks = [m.register_forward_hook(lambda m, a, o: inputs.setdefault(m, []).append(a[0].shape))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model.eval()(torch.zeros(shape))
    for h in hooks:
        h.remove()
    modules = dict(model.named_modules())
    for layer in profile.counted:
        shape_in = tuple(inputs[modules[layer.name]].pop(0))
        assert layer.input_shape == shape_in
        assert layer.total == convops.count_ops(modules[layer.name], shape_in)
    assert not any(inputs.values())  # every call of every convolution was counted
    return profile


def test_unet_layer_by_layer_and_flop_counter():
    model, shape = UNet(width=4, depth=2), (2, 3, 16, 16)
    profile = _check_layer_by_layer(model, shape)
    assert {layer.kind for layer in profile.counted} == {"Conv2d", "ConvTranspose2d"}
    assert 2 * profile.multiplications == flop_counter_flops(model, shape) == profile.flops
    assert profile.total == profile.multiplications + profile.additions


def test_resnet50_shape_and_counts():
    with torch.device("meta"):
        model = resnet50()
    assert sum(p.numel() for p in model.parameters()) == 25_557_032  # torchvision's count
    profile = convops.profile(model, (1, 3, 224, 224))
    assert len(profile.counted) == 53
    assert profile.macs == 4_087_136_256  # conv MACs; torchvision's 4.09 G adds the fc layer
    not_counted = {layer.kind for layer in profile.not_counted}
    assert not_counted == {"BatchNorm2d", "ReLU", "MaxPool2d", "AdaptiveAvgPool2d", "Linear"}
    assert all(layer.note for layer in profile.not_counted)


def test_small_resnet_against_real_run():
    from convops_book.models import ResNet
    _check_layer_by_layer(ResNet((1, 1, 1, 1), num_classes=10), (1, 3, 32, 32))


class _Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(2, 4, 3))  # has children
        self.shared = nn.ConvTranspose1d(4, 4, 2, stride=2)
        self.unused = nn.Linear(3, 3)
        self.act = nn.GELU()

    def forward(self, x):
        return self.shared(self.act(self.shared(self.conv(x))))


def test_repeated_parametrized_unbatched_and_unused_layers():
    model, shape = _Mixed(), (2, 10)  # unbatched
    profile = convops.profile(model, shape)
    names = [(layer.name, layer.counted) for layer in profile.layers]
    assert names == [("conv", True), ("shared", True), ("act", False), ("shared", True),
                     ("unused", False)]
    assert profile.layers[0].total == convops.count_ops(model.conv, shape)
    assert profile.layers[3].input_shape == (4, 16)
    assert "not called" in profile.layers[-1].note
    assert all(p.device.type == "cpu" for p in model.parameters())  # the model is unchanged
    assert model.training


def test_rendering():
    profile = convops.profile(UNet(width=2, depth=1), (1, 3, 8, 8))
    text, page = str(profile), profile._repr_html_()
    assert f"{profile.total:,}" in text and f"{profile.total:,}" in page
    assert "BatchNorm2d" in text and "<table>" in page and "not counted" in page
    rows = profile.rows()
    assert len(rows) == len(profile.layers) and rows[0]["kind"] == "Conv2d"


def test_a_model_that_is_one_convolution():
    layer = nn.Conv2d(3, 4, 3)
    profile = convops.profile(layer, (1, 3, 5, 5))
    assert [l.name for l in profile.layers] == ["(model)"]
    assert profile.total == convops.count_ops(layer, (1, 3, 5, 5))
