import pickle

import pytest
import torch

from pygkd.errors import InputError
from pygkd.nn import STGCN
from pygkd.train import load_checkpoint, load_model, save_checkpoint


def test_round_trip_and_no_temporary_files(tmp_path):
    model = STGCN(4, [[1, 2, 4], [4, 2, 8]])
    save_checkpoint(tmp_path / "model.pt", {"kind": "stgcn", "model_config": model.config(),
                                            "model_state": model.state_dict()})
    loaded, payload = load_model(tmp_path / "model.pt")
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=False):
        assert torch.equal(a, b), k
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_failed_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"value": 1})

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_checkpoint(path, {"value": Boom()})
    assert load_checkpoint(path)["value"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_unsafe_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "pygkd-checkpoint-v1", "x": _Evil()}, path, pickle_module=pickle)
    with pytest.raises(InputError, match="not a readable pygkd checkpoint"):
        load_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.pt").write_text("hello")
    with pytest.raises(InputError, match="not a readable"):
        load_checkpoint(tmp_path / "x.pt")
    torch.save({"a": 1}, tmp_path / "y.pt")
    with pytest.raises(InputError, match="not a pygkd checkpoint"):
        load_checkpoint(tmp_path / "y.pt")
    save_checkpoint(tmp_path / "z.pt", {"kind": "training-state"})
    with pytest.raises(InputError, match="expected a model checkpoint of a3tgcn, dcrnn"):
        load_model(tmp_path / "z.pt")
