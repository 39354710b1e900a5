"""Weights ComfyUI users already have, converted to ONNX once with ComfyUI's torch.

Random weights stand in for BRIA's and hustvl's (neither can be fetched here): the architecture,
the state-dict names, the export and the check against PyTorch are what is tested.
"""

import logging

import numpy as np
import pytest
from conftest import COMFY, inference_mode, requires_torch, tiny_segmentation_onnx

import rmbg_ultra_comfyui
from rmbg_ultra_comfyui import _native, convert, models

CLS = rmbg_ultra_comfyui.NODE_CLASS_MAPPINGS["LayerMask: RmBgUltra V2"]


def run_node(**kw):
    """What ComfyUI's execution does with a node class (under torch.inference_mode() when torch is there)."""
    with inference_mode():
        return getattr(CLS(), CLS.FUNCTION)(**kw)


def node_inputs(image, **over):
    base = dict(image=image, detail_method="GuidedFilter", detail_erode=6, detail_dilate=6, black_point=0.01,
                white_point=0.99, process_detail=True, device="cpu", max_megapixels=2.0)
    base.update(over)
    return base


def random_rmbg_state_dict(seed=0):
    import torch

    torch.manual_seed(seed)
    net = convert.build_bria_rmbg()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.state_dict()


def test_rmbg_architecture_has_the_weight_files_layout():
    requires_torch()
    state = convert.build_bria_rmbg().state_dict()
    # 44.0 M parameters (BRIA's model.pth is 176 MB of f32) in the IS-Net module names.
    params = sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert params == 44_046_790
    for key in ["conv_in.weight", "stage1.rebnconvin.conv_s1.weight", "stage1.rebnconv7.bn_s1.running_var",
                "stage1.rebnconv1d.conv_s1.bias", "stage4.rebnconv4.conv_s1.weight", "stage5.rebnconv4.conv_s1.weight",
                "stage5d.rebnconv3d.bn_s1.weight", "stage1d.rebnconv6d.conv_s1.weight", "side1.weight", "side6.bias"]:
        assert key in state, key
    assert state["stage1.rebnconv7.conv_s1.weight"].shape == (32, 32, 3, 3)
    assert state["stage5d.rebnconvin.conv_s1.weight"].shape == (512, 1024, 3, 3)
    assert not any(k.startswith(("pool", "stage1.pool6")) for k in state)


def test_model_pth_is_converted_once_and_used(photo_batch, cli_masks, tmp_path, caplog):
    """A ComfyUI_LayerStyle install: models/rmbg/RMBG-1.4/model.pth only. The node converts it,
    says so, checks it against PyTorch, and then equals the CLI running the converted file."""
    requires_torch()
    import torch

    folder = tmp_path / "models" / "rmbg" / "RMBG-1.4"
    folder.mkdir(parents=True)
    torch.save(random_rmbg_state_dict(), folder / "model.pth")
    COMFY.models_dir = tmp_path / "models"
    frames_u8, frames, paths = photo_batch
    with caplog.at_level(logging.INFO, logger="rmbg_ultra"):
        _, mask = run_node(**node_inputs(torch.from_numpy(frames[:1])))  # seg_model left out: RMBG-1.4
    onnx = folder / "model.onnx"
    assert onnx.is_file() and convert.is_current(onnx, folder / "model.pth")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "converting" in text and "converted" in text, text
    want = cli_masks(paths[:1], "--method", "GuidedFilter", "--seg-model", str(onnx))
    got = np.rint(mask.numpy().astype(np.float64) * 255).astype(np.uint8)
    assert np.array_equal(got[0], want[paths[0].stem])

    # Second call: no new conversion.
    mtime = onnx.stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rmbg_ultra"):
        run_node(**node_inputs(torch.from_numpy(frames[:1]), process_detail=False))
    assert onnx.stat().st_mtime_ns == mtime
    assert not any("converting" in r.getMessage() for r in caplog.records)


def test_a_wrong_state_dict_is_refused_with_a_reason(tmp_path):
    requires_torch()
    import torch

    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "model.pth")
    with pytest.raises(convert.ConversionError, match="not BRIA RMBG-1.4's state dict"):
        convert.rmbg_from_weights(tmp_path / "model.pth")


def tiny_vitmatte(seed=0):
    from transformers import VitDetConfig, VitMatteConfig, VitMatteForImageMatting

    import torch

    backbone = VitDetConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=4, image_size=224,
        pretrain_image_size=224, patch_size=16, num_channels=4, window_size=14, window_block_indices=[0, 2],
        residual_block_indices=[1, 3], use_absolute_position_embeddings=True, use_relative_position_embeddings=True,
        qkv_bias=True, layer_norm_eps=1e-6, out_features=["stage4"],
    )
    config = VitMatteConfig(backbone_config=backbone, hidden_size=32, convstream_hidden_sizes=[8, 16, 24],
                            fusion_hidden_sizes=[32, 16, 12, 8])
    torch.manual_seed(seed)
    model = VitMatteForImageMatting(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "rel_pos" in name or "position_embeddings" in name:
                p.normal_(0, 0.5)  # zero tables (transformers' init) would hide a broken export
    return model


def test_safetensors_vitmatte_folder_is_converted_once(photo_batch, cli_masks, tmp_path, caplog):
    requires_torch()
    pytest.importorskip("transformers", reason="transformers (ComfyUI's own dependency) is needed for ViTMatte")
    models_dir = tmp_path / "models"
    folder = models_dir / "vitmatte"
    tiny_vitmatte().save_pretrained(str(folder))
    assert (folder / "model.safetensors").is_file() and not (folder / "model.onnx").exists()
    seg = models_dir / "rmbg" / "RMBG-1.4" / "model.onnx"
    seg.parent.mkdir(parents=True)
    seg.write_bytes(tiny_segmentation_onnx())
    COMFY.models_dir = models_dir
    frames_u8, frames, paths = photo_batch
    with caplog.at_level(logging.INFO, logger="rmbg_ultra"):
        try:
            _, mask = run_node(**node_inputs(frames[:2], detail_method="VITMatte(local)", seg_model="RMBG-1.4"))
        except _native.RmbgUltraError as e:
            assert "not supported" in str(e), str(e)  # the library's ViTMatte has not landed yet
            mask = None
    if mask is not None:
        want = cli_masks(paths[:2], "--method", "VITMatte(local)", "--seg-model", str(seg), "--comfyui-models", str(models_dir))
        got = np.rint(np.asarray(mask, dtype=np.float64) * 255).astype(np.uint8)
        for i, p in enumerate(paths[:2]):
            assert np.array_equal(got[i], want[p.stem]), p.stem
    onnx = folder / "model.onnx"
    assert onnx.is_file() and convert.is_current(onnx, folder / "model.safetensors")
    assert any("converted" in r.getMessage() for r in caplog.records)
    # The file meets the matting contract at a size it was not exported at.
    x = np.zeros((1, 4, 64, 96), np.float32)
    shape, _ = _native.run_onnx(str(onnx), x)
    assert shape == [1, 1, 64, 96]
    # In place where the library looks: no explicit path needed, and no second conversion.
    assert models.prepare_vitmatte("VITMatte") is None
    assert models.prepare_vitmatte("vitmatte-base-composition-1k") is None
