"""A process that renders the scene can load a model afterwards (Mesa's and Triton's LLVMs; see
molmo_ros.sim.camera.load_triton_before_gl). Run in a fresh interpreter: the crash it guards against kills
the process."""

import subprocess
import sys

SCRIPT = """
from molmo_ros.sim.config import load_sim_config
from molmo_ros.sim.simulator import Simulator
sim = Simulator(load_sim_config(image_width=64, image_height=48, seed=1))
assert sim.render(rgb=True, depth=False).rgb.shape == (48, 64, 3)
import torch._dynamo  # imports Triton when it is installed, as transformers does when loading a model
print("model stack imported after rendering")
sim.close()
"""


def test_model_stack_imports_after_rendering():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "model stack imported after rendering" in result.stdout
