"""Training: `Trainer` (loop.py) over batches of the library (data.py), resumable (resume.py), with hooks
for progress, samples and TensorBoard, data-parallel under torchrun (distributed.py, workers.py), and
`train_model`, a whole run as `poet train` makes one (run.py)."""

from ..config import ModelConfig, TrainConfig
from ..hardware import pick_device, pick_dtype
from .loop import Trainer, train_step
from .run import train_model

__all__ = ["ModelConfig", "TrainConfig", "Trainer", "pick_device", "pick_dtype", "train_model", "train_step"]
