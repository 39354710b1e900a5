"""ComfyUI custom node package: "LayerMask: RmBgUltra V2 (rmbg-ultra)".

Registered under the original node's name, "LayerMask: RmBgUltra V2", so that workflows saved with
ComfyUI_LayerStyle's node open with this one (same inputs, outputs and results). With both packages
installed, whichever ComfyUI loads last owns that name; set RMBG_ULTRA_COMFYUI_NODE_NAME to another
name (e.g. "RmBgUltraV2 (rmbg-ultra)") to register this node beside the original instead.
"""

import os

from .node import DISPLAY_NAME, NODE_NAME, RmBgUltraV2

__version__ = "0.1.0"

_name = os.environ.get("RMBG_ULTRA_COMFYUI_NODE_NAME") or NODE_NAME

NODE_CLASS_MAPPINGS = {_name: RmBgUltraV2}
NODE_DISPLAY_NAME_MAPPINGS = {_name: DISPLAY_NAME}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "RmBgUltraV2"]
