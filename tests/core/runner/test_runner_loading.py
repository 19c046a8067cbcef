"""Model paths stay inside models_dir; load errors read as one line naming rank and tensor."""

import pytest

from odyssai.runner.loading import ModelPathError, describe_load_error, local_parameters, resolve_model
from odyssai.runner.node import _meminfo_linux


@pytest.mark.parametrize("name", ["../etc", "/abs/model", "a/../../b", "~/x", "", "a//b", "a\\b"])
def test_a_model_name_that_leaves_the_models_dir_is_refused(tmp_path, name):
    with pytest.raises(ModelPathError):
        resolve_model(tmp_path, name)


def test_a_model_the_admin_symlinked_into_the_models_dir_is_followed(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "volume" / "big-model").mkdir(parents=True)
    (tmp_path / "models" / "big-model").symlink_to(tmp_path / "volume" / "big-model")
    path = resolve_model(tmp_path / "models", "big-model")
    assert path.resolve() == (tmp_path / "volume" / "big-model").resolve()


def test_an_org_slash_name_resolves_inside(tmp_path):
    assert resolve_model(tmp_path, "mlx-community/Qwen3-8B") == (tmp_path / "mlx-community" / "Qwen3-8B").resolve()


def test_a_shape_mismatch_names_rank_tensor_and_both_shapes():
    e = ValueError("Expected shape (400, 96) but received shape (400, 64) for parameter model.embed_tokens.weight")
    msg = describe_load_error(e, 3)
    assert msg.startswith("rank 3: ")
    assert "model.embed_tokens.weight" in msg and "(400, 64)" in msg and "(400, 96)" in msg
    assert "\n" not in msg


def test_any_other_load_error_is_one_line_with_the_rank():
    msg = describe_load_error(ValueError("Missing 2 parameters: \na,\nb."), 1)
    assert msg == "rank 1: Missing 2 parameters: a, b."


def test_meminfo_gives_total_and_available_bytes():
    total, free = _meminfo_linux("MemTotal:  1000 kB\nMemFree:  10 kB\nMemAvailable:  600 kB\n")
    assert (total, free) == (1000 * 1024, 600 * 1024)


def test_a_rank_counts_the_parameters_it_holds_in_its_layers_and_in_total():
    import mlx.nn as nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(10, 4)                                        # 40
            self.layers = [nn.Linear(4, 4, bias=False), nn.Linear(4, 2, bias=False)]      # 16, 8

    model = Model()
    model.layers[0] = None  # as mlx-lm's pipeline() leaves the layers of other ranks
    held = local_parameters(model).to_dict()
    assert held == {"parameters": 48, "bytes": 4 * 48, "layer_parameters": 8, "layer_bytes": 4 * 8}
