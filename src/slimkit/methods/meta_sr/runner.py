"""``method=meta_sr``: train one Meta-SR network for every scale of the training range, then evaluate it at a
list of scales on the held-out photos and on benchmark folders (Set5, Set14, B100, Urban100), bicubic beside.

Stages (``method.stage``): train | evaluate | all. ``evaluate`` alone takes ``method.checkpoint`` (a run's
checkpoints/last.ckpt or best.ckpt). Outputs in the run dir: evaluation/results.md, results.csv,
psnr_vs_scale.png and comparison_x<r>.png.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import torch
from PIL import Image

from slimkit.data.sr import list_hr_images
from slimkit.errors import ConfigError
from slimkit.methods.classification import OptimizerFactory
from slimkit.methods.meta_sr.evaluation import comparison_strip, evaluate_folder, plot_psnr, write_tables
from slimkit.methods.meta_sr.module import MetaSRModule
from slimkit.models.meta_sr import MetaSR
from slimkit.run_context import RunContext

log = logging.getLogger(__name__)


def image_files(folder: str | Path) -> list[Path]:
    """The HR images of a benchmark folder, as the SR datamodule lists a training folder."""
    files = list_hr_images(Path(folder))
    if not files:
        raise ConfigError(f"{folder} holds no images (*.png, *.jpg, *.jpeg, *.bmp)")
    return files


class MetaSRRunner:
    def __init__(
        self,
        optimizer: OptimizerFactory,
        halve_every: int = 200,
        stage: Literal["train", "evaluate", "all"] = "all",
        checkpoint: str | None = None,
        eval_scales: list[float] | None = None,
        eval_sets: list[str] | None = None,
        strip_scale: float = 3.0,
    ) -> None:
        self.eval_scales = [float(s) for s in (eval_scales if eval_scales is not None else [1.5, 2, 2.5, 3, 3.5, 4])]
        if not self.eval_scales or any(scale <= 1 for scale in self.eval_scales):
            raise ConfigError(f"method.eval_scales must be scales > 1, got {eval_scales}")
        self.eval_sets = [str(folder) for folder in eval_sets or []]
        for folder in self.eval_sets:
            if not Path(folder).is_dir():
                raise ConfigError(f"method.eval_sets: {folder} is not a folder of HR images")
            image_files(folder)
        if stage == "evaluate" and (checkpoint is None or not Path(checkpoint).is_file()):
            raise ConfigError("method.stage=evaluate needs method.checkpoint=<run>/checkpoints/last.ckpt (a file)")
        self.optimizer = optimizer
        self.halve_every = halve_every
        self.stage = stage
        self.checkpoint = checkpoint
        self.strip_scale = float(strip_scale)

    def run(self, context: RunContext) -> dict[str, float]:
        model: MetaSR = context.build_model()
        data = context.datamodule
        model.trained_scales.copy_(torch.tensor([min(data.scales), max(data.scales)]))
        module = MetaSRModule(model, self.optimizer, self.halve_every)
        metrics: dict[str, float] = {"model/params": float(sum(p.numel() for p in model.parameters()))}
        if self.stage == "evaluate":
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
            module.load_state_dict(state.get("state_dict", state))
            results = context.build_trainer().test(module, datamodule=data, weights_only=True)
            metrics |= {name: float(value) for name, value in results[0].items()}
        else:
            trainer = context.build_trainer()
            trainer.fit(module, datamodule=data, ckpt_path=context.resume_from, weights_only=True)
            metrics |= context.test_best(trainer, module)
        if self.stage != "train":
            metrics |= self._evaluate(context, model)
        return metrics

    def _evaluate(self, context: RunContext, model: MetaSR) -> dict[str, float]:
        folder = context.output_dir / "evaluation"
        folder.mkdir(parents=True, exist_ok=True)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
        sets = {Path(path).name: image_files(path) for path in self.eval_sets}
        if not sets:  # the held-out photos of the datamodule, written out as the HR images they are
            held_out = folder / "heldout"
            held_out.mkdir(exist_ok=True)
            for name, image in context.datamodule.held_out_images():
                gray = bool((image == image[..., :1]).all())  # saved as one channel: scored on it, as files are
                Image.fromarray(image[..., 0] if gray else image).save(held_out / f"{name}.png")
            sets = {"heldout": image_files(held_out)}
        rows, metrics = [], {}
        for name, images in sets.items():
            log.info("evaluating on %s (%d images) at scales %s", name, len(images), self.eval_scales)
            found, examples = evaluate_folder(model, name, images, self.eval_scales)
            rows += found
            for scale, (bicubic, sr, hr) in examples.items():
                if abs(scale - self.strip_scale) < 1e-9:
                    comparison_strip(bicubic, sr, hr, folder / f"comparison_{name}_x{scale:g}.png")
        for row in rows:
            prefix = f"{row.dataset}/{'bicubic_' if row.method == 'bicubic' else ''}"
            metrics[f"{prefix}psnr_x{row.scale:g}"] = row.psnr
            metrics[f"{prefix}ssim_x{row.scale:g}"] = row.ssim
        gains = [metrics[f"{row.dataset}/psnr_x{row.scale:g}"] - row.psnr for row in rows if row.method == "bicubic"]
        metrics["eval/min_gain_over_bicubic"] = min(gains)
        write_tables(rows, folder)
        plot_psnr(rows, folder / "psnr_vs_scale.png")
        log.info("evaluation tables in %s:\n%s", folder, (folder / "results.md").read_text())
        return metrics
