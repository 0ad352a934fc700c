"""A model design as code a person can read, copy and run: PyTorch (faithful) and Keras (a translation).

The writers live in pytorch.py and keras.py; common.py holds what both use.

`pytorch_code(spec, num_classes)` writes a self-contained `nn.Module` that is the model CNN Studio
builds: the same layers in the same order, the same parameter count and, given the same weights,
the same outputs (same padding, Keras' weight initialisation, logits out). "same" padding is
written as fixed amounts, which the generated code can do because the picture size is fixed.

`keras_code(spec, num_classes)` writes the design in the Keras guide's style
(`keras.Sequential([layers.Input(...), layers.Rescaling(1./255), layers.Conv2D(...), ...])` and
`model.compile(...)`). It is a translation, not what CNN Studio runs: the layers, shapes and
parameter counts match, but
- Keras keeps pictures as (height, width, channels), so its Flatten lists the numbers in another
  order than CNN Studio's channel-first Flatten: a design trains the same way, but weights cannot
  be copied between the two versions;
- Keras has no ResNet-18 in keras.applications, so the code writes one out (functional API, the same
  blocks, strides, paddings and parameter count as torchvision's); Keras has no ImageNet weights
  for it, so it starts from random weights there (said in the code);
- Keras' BatchNormalization also counts its running mean and variance as (non-trainable)
  parameters, so model.summary() shows more parameters than CNN Studio does.

Pure text generation: importing this package imports neither torch nor keras.
"""

from __future__ import annotations

from cnnstudio.core.spec.codegen.keras import KERAS_APPLICATIONS, keras_code
from cnnstudio.core.spec.codegen.pytorch import LEAKY_RELU_SLOPE, TORCHVISION_WEIGHTS, pytorch_code

__all__ = ["KERAS_APPLICATIONS", "LEAKY_RELU_SLOPE", "TORCHVISION_WEIGHTS", "keras_code", "pytorch_code"]
