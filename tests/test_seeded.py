"""The methods that seed their own draws (FMD's PGD baseline and fine-tuning, Fake Gradient's attack evaluation, HyperObf's
random MaskNet) give the same result for the same seed and leave the caller's random state as it was, on the CPU and
on every CUDA device (`core.seeded`)."""
import pytest, torch, torch.nn as nn
from privbook import core, fakegrad, fmd, hyperobf as ho

torch.set_num_threads(1)


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(6, 1, 4, 4, generator=g), torch.arange(6) % 4


def _model():
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 4))


def _runs(dev='cpu'):
    "Each seeded method as a function of its seed, on `dev`; each returns a tensor."
    x, y = _data()
    m, like = _model().to(dev), ho.MaskNet(image_size=8).to(dev)
    def finetune(s): return torch.cat([p.detach().flatten() for p in fmd.finetune(m, x.to(dev), y.to(dev), epochs=1, seed=s).parameters()]).cpu()
    return {'pgd': lambda s: fmd.pgd(m.eval(), x, y, 8/255, 2/255, 2, seed=s),
            'finetune': finetune,
            'attack_eval': lambda s: fakegrad.attack_eval(m.eval(), m.eval(), x, y, attack='noise', eps=0.1, seed=s)['x_adv'],
            'random_masknet': lambda s: torch.cat([p.detach().flatten() for p in ho.random_masknet(like, seed=s).parameters()])}


@pytest.mark.parametrize('name', ['pgd', 'finetune', 'attack_eval', 'random_masknet'])
def test_seeded_methods_repeat_and_leave_the_callers_cpu_stream_alone(name):
    run = _runs()[name]
    torch.manual_seed(7); want = torch.rand(3)
    torch.manual_seed(7)
    a = run(0)
    assert torch.equal(torch.rand(3), want)                  # the caller's stream goes on as if the method had drawn nothing
    assert torch.equal(run(0), a) and not torch.equal(run(1), a)


def test_seeded_checks_its_seed():
    for bad, err in ((-1, ValueError), (2**64, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(err, match='^seed'):
            with core.seeded(bad): pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA: on a CPU no CUDA generator exists to touch')
@pytest.mark.parametrize('dev', ['cpu', 'cuda'])
@pytest.mark.parametrize('name', ['pgd', 'finetune', 'attack_eval', 'random_masknet'])
def test_seeded_methods_leave_the_callers_cuda_generator_alone(name, dev):
    "A model on either device: the caller's CUDA generator is where it was (torch.manual_seed alone would reset it)."
    run = _runs(dev)[name]
    torch.cuda.manual_seed(123); torch.rand(1, device='cuda')           # a caller's state, not that of seed 0
    before = torch.cuda.get_rng_state()
    run(0)
    assert torch.equal(torch.cuda.get_rng_state(), before)


def test_finetune_names_a_model_without_parameters():
    x, y = _data()
    with pytest.raises(ValueError, match='^model: Flatten has no parameters to fine-tune'): fmd.finetune(nn.Flatten(), x, y, epochs=1)
