"Bad input to the foundation fails with the right error type and a message naming the argument."
import numpy as np, pytest, torch
from privbook import core, data, models, metrics

x = torch.rand(2, 1, 28, 28)
tiny = models.build('resnet18', 10, in_channels=1, image_size=28)

CASES = [
    # (callable, error type, argument named in the message)
    (lambda: data.load('imagenet-21k'), ValueError, 'name'),                       # unknown dataset
    (lambda: data.load(42), TypeError, 'name'),                                    # dataset name not a string
    (lambda: data.load('mnist', root='/no/such/root'), FileNotFoundError, 'root'),  # missing root
    (lambda: data.load('olivetti', root='/no/such/root'), FileNotFoundError, 'root'),
    (lambda: data.load('mnist5k', split='validation'), ValueError, 'split'),       # bad split
    (lambda: data.load('mnist5k', size=0), ValueError, 'size'),
    (lambda: data.load('mnist5k', size=10**7), ValueError, 'size'),
    (lambda: data.load('mnist5k', channels=4), ValueError, 'channels'),
    (lambda: data.load('mnist5k', image_size=(0, 5)), ValueError, 'image_size'),
    (lambda: data.load('imagefolder:/no/such/folder'), FileNotFoundError, 'name'),
    (lambda: models.build('resnet1000', 10), ValueError, 'arch'),                  # unknown architecture
    (lambda: models.build('vgg16', 10, in_channels=2), ValueError, 'in_channels'),  # wrong channel count
    (lambda: models.build('vgg16', 1), ValueError, 'num_classes'),
    (lambda: models.build('vgg16', 10, image_size=4), ValueError, 'image_size'),
    (lambda: models.build('vgg16', 10, pretrained='/no/weights.pth'), FileNotFoundError, 'pretrained'),
    (lambda: models.predict(tiny, x*2), ValueError, 'x'),                          # images out of [0,1]
    (lambda: models.predict(tiny, x[0]), ValueError, 'x'),                         # wrong rank
    (lambda: models.predict(tiny, x.masked_fill(x > .5, float('nan'))), ValueError, 'x'),  # NaN
    (lambda: models.predict(tiny, (x*255).to(torch.uint8)), TypeError, 'x'),      # wrong dtype
    (lambda: models.predict(tiny, x.numpy()), TypeError, 'x'),
    (lambda: models.accuracy(tiny, x, torch.zeros(3, dtype=torch.long)), ValueError, 'y'),  # label count
    (lambda: models.accuracy(tiny, x, torch.zeros(2)), TypeError, 'y'),            # label dtype
    (lambda: core.get_scale('huge'), ValueError, 'scale'),                        # bad scale name
    (lambda: core.get_scale('smoke').pick(cpu=1), ValueError, 'by_scale'),
    (lambda: core.get_device('quantum'), ValueError, 'device'),
    (lambda: core.seed_everything('0'), TypeError, 'seed'),
    (lambda: core.check_images(x, channels=3), ValueError, 'x'),
    (lambda: core.check_positive(-1., 'eps'), ValueError, 'eps'),
    (lambda: core.check_positive(0, 'steps', integer=True, minimum=1), ValueError, 'steps'),
    (lambda: metrics.mse(x, x[:1]), ValueError, 'b'),
    (lambda: metrics.attack_success_rate(0.5, 0), ValueError, 'acc_clean'),
    (lambda: core.read_results('/no/such/results'), FileNotFoundError, 'path'),
    (lambda: data.stratified_split(np.zeros((4, 2)), 0.5), ValueError, 'y'),
    (lambda: data.stratified_split(np.arange(4) % 2, 1.0), ValueError, 'test_frac'),
]

def test_stratified_split_keeps_class_fractions():
    y = np.repeat(np.arange(4), 10)
    tr, te = data.stratified_split(y, 0.3, seed=1)
    assert len(set(tr) & set(te)) == 0 and len(tr) + len(te) == len(y)
    assert (np.bincount(y[te]) == 3).all()
    assert np.array_equal(te, data.stratified_split(y, 0.3, seed=1)[1]) and not np.array_equal(te, data.stratified_split(y, 0.3, seed=2)[1])

@pytest.mark.parametrize('i', range(len(CASES)))
def test_bad_input(i):
    f, err, arg = CASES[i]
    with pytest.raises(err) as e: f()
    assert arg in str(e.value), f'message does not name {arg!r}: {e.value}'

def test_fit_rejects_non_dataset_images():
    bad = torch.utils.data.TensorDataset(x*3, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match='train'): models.fit(tiny, bad)

def test_nothing_silently_changed():
    "Inputs are never modified in place by the checks or by prediction."
    x0 = x.clone(); models.predict(tiny, x); core.check_images(x)
    assert torch.equal(x, x0)


def test_numbers_that_make_no_sense_are_refused_by_name():
    "Accepted before and meaningless: each now names its argument (reliability review, round three)."
    import torch
    from privbook import core, fmd, hyperobf, midefense as M, disguise
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x, y = torch.rand(2, 1, 4, 4), torch.tensor([0, 1])
    u8 = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    cases = [(lambda: core.get_scale('smoke', epochs=-3), 'epochs:'), (lambda: core.get_scale('smoke', n_eval=0), 'n_eval:'),
             (lambda: fmd.protect(m, x, y, layer=1, eps=1e9), 'eps:'), (lambda: fmd.protect(m, x, y, layer=1, steps=10**400), 'steps:'),
             (lambda: M.defend_logits(torch.randn(3, 4), M.Inversion(4, 1, 8), step_size=1e308), 'step_size:'),
             (lambda: hyperobf.load_faces('mnist5k', n_public=0), 'n_public:'),
             (lambda: hyperobf.cloak(hyperobf.MaskNet(in_channels=1, image_size=16), torch.rand(2, 1, 16, 16), rho_pixel=5), 'rho_pixel:'),
             (lambda: disguise.codebook_attack(u8, u8, u8, 7, unit=3), 'unit:'), (lambda: disguise.codebook_attack(u8, u8, u8, 5), 'block:')]
    for f, start in cases:
        with pytest.raises((ValueError, TypeError)) as e: f()
        assert str(e.value).startswith(start), str(e.value)
    core.get_scale('smoke', n_train=None)   # None still means the whole split
