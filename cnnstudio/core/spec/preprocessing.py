"""How a decoded picture (uint8) becomes the model's input. It travels with every export."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    import torch

# torchvision's ImageNet statistics, which its pre-trained weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """Resize to height x width by `fit`, convert to `channels` ("RGB" or "L"), then
    x * scale, minus mean, divided by std, per channel.

    A custom CNN gets plain x/255 (mean 0, std 1), like the Keras guide's Rescaling(1./255);
    a spec with a pre-trained Backbone gets ImageNet's mean and std, as its weights expect.
    """

    height: int
    width: int
    channels: str = "RGB"  # "RGB" or "L" (grey)
    fit: str = "stretch"  # "stretch" | "crop" | "pad"
    scale: float = 1 / 255
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)

    @property
    def num_channels(self) -> int:
        return 1 if self.channels == "L" else 3

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        try:
            return cls(
                height=int(data["height"]),
                width=int(data["width"]),
                channels=str(data.get("channels", "RGB")),
                fit=str(data.get("fit", "stretch")),
                scale=float(data.get("scale", 1 / 255)),
                mean=tuple(float(v) for v in data.get("mean", (0.0, 0.0, 0.0))),
                std=tuple(float(v) for v in data.get("std", (1.0, 1.0, 1.0))),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"The preprocessing settings are damaged ({exc}); export the model again."
            ) from exc

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 pictures (N, C, H, W) or (C, H, W), on any device -> float32 model input, same device."""
        import torch

        out = x.to(torch.float32) * self.scale
        if any(self.mean) or any(s != 1 for s in self.std):
            mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
            std = torch.tensor(self.std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
            out = (out - mean) / std
        return out
