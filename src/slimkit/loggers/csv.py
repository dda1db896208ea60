"""A CSVLogger that keeps ``metrics.csv`` across a resume.

Lightning's CSV writer deletes metrics.csv whenever its folder is not empty, which is always the
case for a job dir (and exactly the case of a resumed job). This one appends instead and starts
from the existing header. Rows logged after the last checkpoint of an interrupted run appear again
after the resume; keep the last row per step to deduplicate.
"""

from __future__ import annotations

import csv
import os

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class AppendingExperimentWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                self.metrics_keys = next(csv.reader(handle), [])


class ResumableCSVLogger(CSVLogger):
    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
