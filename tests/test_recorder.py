"The recorder: the usual ways of logging a number work, and rows never come back different from what was logged."
import math
import numpy as np, pytest, torch
from privbook import core


@pytest.fixture
def rec(tmp_path): return core.Recorder(tmp_path, 'exp', 'smoke')


def test_zero_dim_tensors_and_arrays_are_numbers(rec):
    pred, y = torch.tensor([1, 2, 3]), torch.tensor([1, 2, 0])
    rec.log('acc', (pred == y).float().mean())
    rec.log('acc_np', np.float32(0.5), flag=np.bool_(True), arr=np.array(3))
    df = rec.frame()
    assert df.value.tolist() == pytest.approx([2 / 3, 0.5])
    assert df.arr.iloc[1] == 3 and df.flag.iloc[1] == True


def test_reserved_and_ambiguous_parameters_are_refused(rec):
    for name in ('experiment', 'scale', 'device', 'run_id'):
        with pytest.raises(ValueError, match='^params:'): rec.log('m', 1.0, **{name: 'x'})
    with pytest.raises(ValueError, match='^label:'): rec.log('m', 1.0, label='NaN')
    with pytest.raises(ValueError, match='^metric:'): rec.log(None, 1.0)
    rec.log('m', float('nan'), label='nan-free')
    assert math.isnan(rec.frame().value.iloc[0])
