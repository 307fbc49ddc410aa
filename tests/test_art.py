"privbook.art: privbook's protections attached to an ART PyTorchClassifier (ART is in the dev requirements: this never skips)."
import sys
import numpy as np, pytest, torch, torch.nn as nn
from art.estimators.classification import PyTorchClassifier
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
from privbook import protect, midefense, art as part

torch.set_num_threads(1)

class Tiny(nn.Module):
    "A tiny CNN on 16 x 16 RGB images, K = 4 classes, ending in a fully connected layer."
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(16, 4)
    def forward(self, x): return self.fc(self.features(x))

@pytest.fixture
def net():
    torch.manual_seed(0)
    return Tiny().eval()

@pytest.fixture
def x():
    return np.random.default_rng(1).integers(0, 256, (6, 3, 16, 16)).astype(np.float32) / 255

def _classifier(model, k, **kw):
    return PyTorchClassifier(model, nn.CrossEntropyLoss(), input_shape=(3, 16, 16), nb_classes=k, clip_values=(0., 1.), **kw)

def test_fmd_preprocessor_and_midefense_postprocessor_with_pgd(net, x):
    pre = part.ProtectionPreprocessor(protect.FMD(net, eps=8/255, steps=2, progress=False, seed=0))
    post = part.MIDefensePostprocessor(protect.MIDefense(net, midefense.Inversion(4, 3, 16), steps=2, progress=False, seed=0))
    clf = _classifier(net, 4, preprocessing_defences=[pre], postprocessing_defences=[post])
    p = clf.predict(x)
    assert p.shape == (6, 4) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    x_adv = ProjectedGradientDescent(clf, eps=8/255, eps_step=2/255, max_iter=2, verbose=False).generate(x)
    assert x_adv.shape == x.shape and 0 < np.abs(x_adv - x).max() <= 8/255 + 1e-6

def test_midefense_postprocessor_keeps_every_label(net, x):
    post = part.MIDefensePostprocessor(protect.MIDefense(net, midefense.Inversion(4, 3, 16), steps=3, eps=2., progress=False, seed=0))
    with torch.no_grad(): logits = net(torch.from_numpy(x)).numpy()
    for preds, outputs in ((logits, 'logits'), (torch.softmax(torch.from_numpy(logits), 1).numpy(), 'probabilities')):
        post.outputs = outputs
        q = post(preds)
        np.testing.assert_array_equal(q.argmax(1), logits.argmax(1))
        assert not np.allclose(q, torch.softmax(torch.from_numpy(logits), 1).numpy())  # the vectors did change
    clf = _classifier(net, 4, postprocessing_defences=[part.MIDefensePostprocessor(post.defense)])
    np.testing.assert_array_equal(clf.predict(x).argmax(1), logits.argmax(1))

def test_fake_gradient_postprocessor_with_fgsm(net, x):
    fg = protect.FakeGradient(net, example=torch.from_numpy(x[:1]), seed=0)
    clf = _classifier(fg, 8, postprocessing_defences=[part.FakeGradientPostprocessor(fg)])
    with torch.no_grad(): ref = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(clf.predict(x), ref, atol=1e-5)  # the key holder's view: the real logits
    y = part.served_labels(clf, x)
    assert y.shape == (6, 8) and clf.postprocessing_defences is not None
    x_adv = FastGradientMethod(clf, eps=4/255).generate(x, y=y)
    assert x_adv.shape == x.shape and np.abs(x_adv - x).max() <= 4/255 + 1e-6
    with pytest.raises(ValueError, match='2K'): part.FakeGradientPostprocessor(fg)(ref)

def test_disguise_and_cloak_preprocessors(net, x):
    dz = part.ProtectionPreprocessor(protect.Disguise(progress=False, seed=0))
    clf = _classifier(net, 4, preprocessing_defences=[dz])
    assert clf.predict(x).shape == (6, 4)
    xd, _ = dz(x)
    assert torch.equal(dz.protection.inverse(torch.from_numpy(xd)), torch.from_numpy(x))
    with pytest.raises(NotImplementedError, match='HopSkipJump'): clf.loss_gradient(x, np.eye(4, dtype=np.float32)[[0] * 6])
    from privbook import hyperobf
    hn = hyperobf.HyperNet(num_classes=3, in_channels=1, image_size=16)
    hn.epochs_trained += 1  # a stand-in for a trained HyperNet: the plumbing, not the protection
    ck = part.ProtectionPreprocessor(protect.Cloak(hn, steps=2, progress=False, seed=0),
                                     clip_values=(0, 255), channels_first=False)
    xl = x.transpose(0, 2, 3, 1) * 255
    xc, _ = ck(xl)
    assert xc.shape == xl.shape and np.abs(xc - xl).max() <= 8 + 1e-3

def test_bad_input(net, x):
    pre = part.ProtectionPreprocessor(protect.FMD(net, steps=1, progress=False))
    with pytest.raises(ValueError, match='clip_values'): pre(x + 2)
    with pytest.raises(TypeError, match='float numpy'): pre(x.astype(np.uint8))
    with pytest.raises(TypeError, match='FMD, Disguise or Cloak'): part.ProtectionPreprocessor(net)
    with pytest.raises(ValueError, match='min < max'): part.ProtectionPreprocessor(pre.protection, clip_values=(1, 0))
    with pytest.raises(ValueError, match='min < max'): pre.set_params(clip_values=(1, 0))
    assert pre.clip_values == (0., 1.)  # a refused change changes nothing
    with pytest.raises(ValueError, match="'logits' or 'probabilities'"):
        part.MIDefensePostprocessor(protect.MIDefense(net, midefense.Inversion(4, 3, 16)), outputs='softmax')

def test_missing_art_names_the_extra(monkeypatch):
    for k in [k for k in sys.modules if k == 'art' or k.startswith('art.')]: monkeypatch.delitem(sys.modules, k)
    monkeypatch.setitem(sys.modules, 'art', None)
    part._with_art.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"privbook\[art\]"): part.ProtectionPreprocessor(protect.Disguise(progress=False))
    finally: part._with_art.cache_clear()
