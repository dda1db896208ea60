"""Plain networks. Each takes ``in_channels``, ``num_classes`` and ``input_size`` from the
datamodule, so one config runs on digits, CIFAR or ImageNet folders without edits."""

from slimkit.models.channel_net import MobileNetV1, MobileNetV2, PrunableResNet
from slimkit.models.lenet import LeNet5
from slimkit.models.meta_sr import MetaEDSR, MetaRDN
from slimkit.models.resnet import CifarResNet
from slimkit.models.shufflenet_supernet import ShuffleNetOneShot, ShuffleNetSupernet
from slimkit.models.vgg import VGG16
from slimkit.models.wrn import WideResNet

__all__ = [
    "CifarResNet",
    "LeNet5",
    "MetaEDSR",
    "MetaRDN",
    "MobileNetV1",
    "MobileNetV2",
    "PrunableResNet",
    "ShuffleNetOneShot",
    "ShuffleNetSupernet",
    "VGG16",
    "WideResNet",
]
