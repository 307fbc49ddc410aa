"Behavioural tests of privbook.fakegrad written against the mutants that `make mutants` found surviving (docs/mutants.md)."
import re, pytest, torch, torch.nn as nn
from privbook import fakegrad

torch.set_num_threads(1)


def linear_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 4))


class Counting(nn.Module):
    "Wraps a model and counts its forward passes (an attack's iterations)."
    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0
    def forward(self, x):
        self.calls += 1
        return self.model(x)


def test_key_generate_refuses_bad_sizes_and_seeds_by_name():
    with pytest.raises(ValueError, match='^n_outputs'): fakegrad.Key.generate(2)   # 2K >= 4: one real and one fake class is no key
    with pytest.raises(ValueError, match='^n_outputs'): fakegrad.Key.generate(5)
    assert fakegrad.Key.generate(4, seed=0).n_outputs == 4
    for bad in (1.5, '3', True):
        with pytest.raises(TypeError, match='^seed: expected an int or None'): fakegrad.Key.generate(4, seed=bad)


def test_key_refuses_a_nonce_that_is_not_16_bytes():
    with pytest.raises(ValueError, match='^nonce: expected 16 bytes'): fakegrad.Key([1, 0, 3, 2], nonce=b'short')
    with pytest.raises(ValueError, match='^nonce: expected 16 bytes'): fakegrad.Key([1, 0, 3, 2], nonce='0' * 16)
    assert fakegrad.Key([1, 0, 3, 2], nonce=bytes(16)).n_outputs == 4


def test_functional_tail_error_names_the_last_module_called():
    class Tail(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.act, self.fc2 = nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)
        def forward(self, x): return 2 * self.fc2(self.act(self.fc1(x)))
    with pytest.raises(ValueError, match=r"^model: .*an operation after the last module call 'fc2' \(Linear\)"):
        fakegrad.protect(Tail(), example=torch.rand(2, 4))


def test_random_weight_baseline_is_labelled_and_decrypts_exactly():
    m, x = linear_model(), torch.rand(5, 1, 4, 4)
    pm, key = fakegrad.random_weight(m, seed=0, example=x)
    assert pm.fakegrad == dict(method='random_weight', layer='1', num_classes=4)
    assert fakegrad.protect(m, seed=0, example=x)[0].fakegrad['method'] == 'fake_gradient'
    with torch.no_grad(): assert (fakegrad.decrypt(pm(x), key) - m(x)).abs().max() <= 1e-6


def test_deepfool_one_step_suffices_on_a_linear_model():
    # an affine classifier's closest boundary is reached by DeepFool's first linearisation: steps=1 is a valid budget
    m = linear_model()
    x = 0.4 + 0.2 * torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(): lab = m(x).argmax(1)
    for atk in (fakegrad.DeepFool(m, steps=1, clip=False), fakegrad.make_attack('deepfool', m, steps=1, clip=False)):
        adv = atk(x, lab)
        assert (atk.n_steps == 1).all() and (m(adv).argmax(1) != lab).all()
    with pytest.raises(ValueError, match='^steps'): fakegrad.DeepFool(m, steps=0)


@pytest.mark.parametrize('eps', [0.1, 0.3])
def test_pgd_uses_the_budget_and_the_steps_given(eps):
    m = Counting(linear_model())
    x = torch.full((4, 1, 4, 4), 0.5)
    with torch.no_grad(): lab = m(x).argmax(1)
    m.calls = 0
    d = (fakegrad.make_attack('pgd', m, eps=eps, steps=3)(x, lab) - x).abs()
    assert m.calls == 3                                        # one gradient step per iteration
    assert d.max() <= eps + 1e-6 and d.max() >= 0.99 * eps     # x = 0.5: the L_inf ball lies inside [0, 1] and is reached
    m.calls = 0
    fakegrad.make_attack('pgd', m, eps=eps)(x, lab)
    assert m.calls == 20                                       # the default: 20 iterations


# ---------------------------------------------------------------------------------------------- Algorithm 1's fake layer
def test_fake_weights_need_a_scale_above_one():
    W = torch.tensor([[0.5, -1.0], [2.0, 0.25]])
    for S_a in (0.5, 1.0):   # Algorithm 1: S_a > 1
        with pytest.raises(ValueError, match='^scale: expected a finite number > 1'): fakegrad.fake_weights(W, S_a)
    assert torch.equal(fakegrad.fake_weights(W, 1.5), (2.0 - W.abs()) * 1.5 * W.sign())


def test_fake_weights_of_a_zero_weight_are_zero():
    "W_F = (max W_o - |W_o|) * S_a * sign(W_o): sign(0) = 0, so a zero (e.g. pruned) weight gets a zero fake weight."
    W = torch.tensor([[0.0, -1.0, 2.0], [0.5, 0.0, -0.25]])
    W_F = fakegrad.fake_weights(W, 3.0)
    assert torch.equal(W_F, torch.tensor([[0.0, -3.0, 0.0], [4.5, 0.0, -5.25]]))
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    with torch.no_grad(): m[1].weight[:, ::2] = 0
    x = torch.rand(3, 1, 4, 4)
    pm, key = fakegrad.protect(m, seed=0, example=x)                  # a layer with zero weights is protected, finitely
    with torch.no_grad(): assert (fakegrad.decrypt(pm(x), key) - m(x)).abs().max() <= 1e-6


@pytest.mark.parametrize('bad', [torch.zeros(2, 3), torch.zeros(3, dtype=torch.long), [0.1, 0.2]])
def test_fake_biases_refuse_what_is_not_a_float_vector_by_name(bad):
    shown = str(bad.shape) if isinstance(bad, torch.Tensor) else 'list'
    for how in fakegrad.FAKE_BIAS:
        with pytest.raises(ValueError, match=r'^b_o: expected a float bias vector of K entries, got ' + re.escape(shown)):
            fakegrad.fake_biases(bad, 2.0, how)


def test_deployed_model_reports_its_2k_outputs():
    m, x = linear_model(), torch.rand(3, 1, 4, 4)
    m.num_classes = 4
    pm, key = fakegrad.protect(m, seed=0, example=x)
    with torch.no_grad(): assert pm(x).shape == (3, 8)
    assert pm.num_classes == 8 and pm.fakegrad['num_classes'] == 4 and m.num_classes == 4   # the original model is untouched


# ---------------------------------------------------------------------------------------------- the probe input
def test_probe_input_matches_the_models_dtype_and_device():
    "Without an example the model is traced on a random image of its `input_shape`, made like its parameters."
    m = linear_model().double()
    m.input_shape = (1, 4, 4)
    pm, key = fakegrad.protect(m, seed=0)                           # traced on a float64 probe
    assert fakegrad.find_fc(m) == ('1', m[1])
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    with torch.no_grad(): assert (fakegrad.decrypt(pm(x), key) - m(x)).abs().max() <= 1e-12
    meta = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).to('meta')
    meta.input_shape = (1, 4, 4)
    p = fakegrad._probe_input(meta)
    assert p.shape == (1, 1, 4, 4) and p.device.type == 'meta' and p.dtype == torch.float32


# ---------------------------------------------------------------------------------------------- attacks
def test_deepfool_is_named_deepfool():
    atk = fakegrad.make_attack('deepfool', linear_model(), steps=3)
    assert isinstance(atk, fakegrad.DeepFool) and repr(atk).startswith('DeepFool(') and 'steps=3' in repr(atk)


@pytest.mark.parametrize('name', ['apgd', 'apgd-dlr'])
def test_apgd_runs_the_steps_given_once(name):
    "One check of the clean images, then a single run (no restart): its start and `steps` gradient iterations."
    m = Counting(linear_model())
    x = torch.full((4, 1, 4, 4), 0.5)
    with torch.no_grad(): lab = m(x).argmax(1)
    m.calls = 0
    adv = fakegrad.make_attack(name, m, eps=1e-6, steps=3)(x, lab)   # a budget too small to change any prediction
    assert m.calls == 1 + 1 + 3
    with torch.no_grad(): assert torch.equal(m(adv).argmax(1), lab)     # nothing fooled: a restart would have run again


# ---------------------------------------------------------------------------------------------- sample SEED=2's survivors
def test_protect_refuses_outputs_within_a_factor_1e6_of_the_largest_float_only():
    "The headroom check: a probe output just below finfo.max / 1e6 is accepted, one just above it is refused (by `scale`)."
    top = torch.finfo(torch.float32).max / 1e6
    x = torch.zeros(1, 1, 4, 4)                                          # a zero input: every output is its bias
    for v, ok in ((top * (1 - 5e-7), True), (top * (1 + 5e-7), False)):
        m = linear_model()
        with torch.no_grad(): m[1].bias[0] = v                           # b_F = b_o (the paper): the fake output is v too
        assert (m[1].bias[0].item() < top) == ok                         # still on its side of the bound in float32
        if ok:
            pm, key = fakegrad.protect(m, seed=0, example=x)
            with torch.no_grad(): assert pm(x).abs().max().item() == m[1].bias[0].item()
        else:
            with pytest.raises(ValueError, match='^scale: .*within a factor 1e6'): fakegrad.protect(m, seed=0, example=x)


@pytest.mark.parametrize('dtype', [torch.float16, torch.float32])
def test_fake_weights_may_reach_the_largest_float(dtype):
    "W_F = (max W_o - |W_o|) * S_a * sign(W_o) equal to finfo.max is representable: returned, not refused as an overflow."
    top = torch.finfo(dtype).max
    W_F = fakegrad.fake_weights(torch.tensor([[0.0, -1.0]], dtype=dtype), top)   # max W_o = 0: W_F = [0, S_a]
    assert W_F.dtype == dtype and torch.equal(W_F, torch.tensor([[0.0, top]], dtype=dtype))
    with pytest.raises(ValueError, match='^scale: .*overflow'): fakegrad.fake_weights(torch.tensor([[0.0, -1.0]], dtype=dtype), 2 * top)


def test_load_key_names_a_missing_or_malformed_nonce(tmp_path):
    import json
    p = fakegrad.save_key(fakegrad.Key.generate(4, seed=0), tmp_path/'k.json')
    for nonce in (None, 'ab' * 8, 12):
        doc = json.loads(p.read_text())
        if nonce is None: doc.pop('nonce')
        else: doc['nonce'] = nonce
        q = tmp_path/f'bad-{nonce}.json'
        q.write_text(json.dumps(doc)); q.chmod(0o600)
        with pytest.raises(ValueError, match=r'^path: .* \(missing or malformed nonce: expected 32 hex digits\)$'): fakegrad.load_key(q)


def test_protect_refuses_a_scale_of_at_most_one_before_running_the_model():
    "S_a > 1 (Algorithm 1) is checked first: the model is not traced, and a missing example is not what is reported."
    m = Counting(linear_model())
    for S_a in (1.0, 0.5):
        with pytest.raises(ValueError, match='^scale: expected a finite number > 1'): fakegrad.protect(m, S_a, example=torch.rand(2, 1, 4, 4))
        with pytest.raises(ValueError, match='^scale: expected a finite number > 1'): fakegrad.protect(linear_model(), S_a)  # no example, no input_shape
    assert m.calls == 0


def test_decrypted_state_dict_does_not_hold_the_key():
    "The key is secret: saving the user's view (`Decrypted`) writes the protected model's weights only, never the permutation."
    m, x = linear_model(), torch.rand(3, 1, 4, 4)
    pm, key = fakegrad.protect(m, seed=0, example=x)
    user = fakegrad.Decrypted(pm, key)
    assert set(user.state_dict()) == {f'protected.{k}' for k in pm.state_dict()}
    with torch.no_grad(): assert (user(x) - m(x)).abs().max() <= 1e-6


def test_key_generate_with_a_seed_is_reproducible():
    "seed: an int gives a reproducible key: the same permutation, nonce and so the same key_id."
    a, b = fakegrad.Key.generate(6, seed=3), fakegrad.Key.generate(6, seed=3)
    assert a == b and a.key_id == b.key_id
    assert fakegrad.Key.generate(6).key_id != fakegrad.Key.generate(6).key_id


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA: on a CPU every index is on the images\' device anyway')
def test_deepfool_on_the_gpu():
    "DeepFool runs on CUDA images and a CUDA model: images that cross the boundary drop out of the batch and stay fooled."
    m = linear_model().cuda()
    x = (0.4 + 0.2 * torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(0))).cuda()
    with torch.no_grad(): lab = m(x).argmax(1)
    atk = fakegrad.DeepFool(m, steps=3, clip=False)
    adv = atk(x, lab)
    assert adv.device.type == 'cuda' and (atk.n_steps == 1).all()
    with torch.no_grad(): assert (m(adv).argmax(1) != lab).all()


# ---------------------------------------------------------------------------------------------- public functions no test called (covA)
def test_sign_noise_moves_every_pixel_by_eps_within_the_image_range():
    torch.manual_seed(0)
    m = linear_model()
    atk = fakegrad.SignNoise(m)
    assert atk.eps == 0.3 and repr(atk).startswith('SignNoise(')
    x = torch.full((4, 1, 4, 4), 0.5); x[0] = 0.1; x[1] = 0.9
    x0 = x.clone()
    adv = atk(x, torch.zeros(4, dtype=torch.long))                    # torchattacks' public call
    assert adv.shape == x.shape and torch.equal(x, x0)
    d = (adv[2:] - 0.5).flatten()
    assert torch.allclose(d.abs(), torch.full_like(d, 0.3), atol=1e-6)   # x +- eps inside [0, 1]
    assert 0.3 < (d > 0).float().mean() < 0.7                         # both signs (32 pixels)
    assert ((adv[0] == 0) | ((adv[0] - 0.4).abs() < 1e-6)).all() and (adv[0] == 0).any()   # clipped at 0
    assert ((adv[1] == 1) | ((adv[1] - 0.6).abs() < 1e-6)).all() and (adv[1] == 1).any()   # clipped at 1
    assert torch.allclose((fakegrad.SignNoise(m, eps=0.05)(x[2:], None) - 0.5).abs(), torch.full((2, 1, 4, 4), 0.05), atol=1e-6)


def test_check_key_accepts_the_right_key_and_names_the_argument():
    x = torch.rand(2, 1, 4, 4)
    pm, key = fakegrad.protect(linear_model(), seed=0, example=x)
    assert fakegrad.check_key(key) is key and fakegrad.check_key(key, pm) is key
    with pytest.raises(TypeError, match=r'^key: expected a fakegrad.Key, got str'): fakegrad.check_key('secret')
    with pytest.raises(TypeError, match=r'^k: expected a fakegrad.Key, got NoneType'): fakegrad.check_key(None, name='k')


def test_check_key_refuses_a_key_of_another_model():
    x = torch.rand(2, 1, 4, 4)
    pm, key = fakegrad.protect(linear_model(0), seed=0, example=x)
    pm2, key2 = fakegrad.protect(linear_model(0), seed=1, example=x)
    with pytest.raises(ValueError, match=r'^key: is not the key this model was protected with'): fakegrad.check_key(key2, pm)
    with pytest.raises(ValueError, match=r"^key: is a key for 8 outputs but layer '1' has 4"): fakegrad.check_key(key, linear_model(0))
    with pytest.raises(ValueError, match=r"^key: was made for a layer '1' that this model does not have"): fakegrad.check_key(key, nn.Sequential(nn.Flatten()))
    with pytest.raises(ValueError, match=r"^key: was made for a layer '1'"): fakegrad.check_key(key, nn.Sequential(nn.Flatten(), nn.Conv2d(1, 8, 1)))
    del pm._buffers['fakegrad_key_id']                                # no stored key id: the layer's fingerprint decides
    assert fakegrad.check_key(key, pm) is key
    pm3, _ = fakegrad.protect(linear_model(1), key=key2, example=x)
    del pm3._buffers['fakegrad_key_id']
    with pytest.raises(ValueError, match=r"^key: belongs to another model \(its fingerprint does not match layer '1'"): fakegrad.check_key(key, pm3)


def test_fake_output_mask_flags_argmaxes_at_fake_positions():
    key = fakegrad.Key.generate(6, seed=0)
    fake = set(fakegrad.fake_indices(key).tolist())
    out = torch.eye(6)[[0, 1, 2, 3, 4, 5, 5]] * 3 - 1                 # 7 inputs: argmax at every position (and 5 twice)
    m = fakegrad.fake_output_mask(out, key)
    assert m.dtype == torch.bool and m.tolist() == [i in fake for i in (0, 1, 2, 3, 4, 5, 5)] and 0 < m.sum() < 7
    assert fakegrad.fake_output_mask(out[2], key).tolist() == [2 in fake]   # one vector of 2K
    with pytest.raises(ValueError): fakegrad.fake_output_mask(torch.zeros(3, 4), key)


def test_fake_biases_default_is_the_papers_and_sign_of_zero_is_plus():
    b = torch.tensor([0.5, -0.25, 0.0])
    assert torch.equal(fakegrad.fake_biases(b), b)                                          # b_F = b_o (Algorithm 1, line 5)
    assert torch.equal(fakegrad.fake_biases(b, 20.0, 'authors'), torch.tensor([0.0, -5.0, 10.0]))   # their code: sign(0) = +1


def test_make_attack_apgd_loss_and_seed():
    m = linear_model()
    for name, loss in (('apgd', 'ce'), ('apgd-dlr', 'dlr')):
        a = fakegrad.make_attack(name, m)
        assert a.loss == loss and a.seed == 0
    assert fakegrad.make_attack('square', m).seed == 0


def test_attack_eval_default_seed_is_zero():
    m, x = linear_model(), torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    y = torch.arange(6) % 4
    a = fakegrad.attack_eval(m, m, x, y, attack='pgd', eps=0.1, steps=1)                 # PGD's random start draws from the seed
    assert torch.equal(a['x_adv'], fakegrad.attack_eval(m, m, x, y, attack='pgd', eps=0.1, steps=1, seed=0)['x_adv'])
    assert not torch.equal(a['x_adv'], fakegrad.attack_eval(m, m, x, y, attack='pgd', eps=0.1, steps=1, seed=1)['x_adv'])


def test_probe_input_of_a_model_without_parameters_is_on_the_cpu():
    m = nn.Flatten()
    assert fakegrad._probe_input(m, torch.zeros(2, 4)).device.type == 'cpu'
    m.input_shape = (1, 2, 2)
    x = fakegrad._probe_input(m)
    assert x.device.type == 'cpu' and x.dtype == torch.float32 and x.shape[1:] == (1, 2, 2)


def test_load_key_says_which_fields_must_be_strings(tmp_path):
    import json
    from privbook import core
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 5))
    m.input_shape = (1, 4, 4)
    _, key = fakegrad.protect(m, seed=0)
    p = fakegrad.save_key(key, tmp_path/'k.json')
    doc = json.loads(p.read_text()); doc['layer'] = 3
    doc['mac'] = core.key_file_mac(fakegrad._mac_key(bytes.fromhex(doc['nonce'])), doc)
    (tmp_path/'e.json').write_text(json.dumps(doc)); (tmp_path/'e.json').chmod(0o600)
    with pytest.raises(ValueError, match=r'^path:.*\(layer and fingerprint must be strings\)'): fakegrad.load_key(tmp_path/'e.json')


# ---------------------------------------------------------------------------------------------- survivors of the second sample
def _corner_images():
    "Images at corners of [0,1]^16: DeepFool's clipping cuts its linearised step, so a linear model needs several steps."
    x = torch.ones(4, 1, 4, 4); x[1] = 0
    x[2:] = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)).round()
    return x


def test_deepfool_eval_runs_the_steps_given_and_counts_them_as_ints():
    "deepfool_eval's `steps` bounds DeepFool's linearisations; the per-image step counts are integers."
    m, x = linear_model(), _corner_images()
    with torch.no_grad(): y = m(x).argmax(1)
    full = fakegrad.deepfool_eval(m, m, x, y)                          # default 50 steps: clipping makes some images need more than one
    assert (full['steps'] > 1).any() and full['fooled'].all()
    one = fakegrad.deepfool_eval(m, m, x, y, steps=1)
    assert (one['steps'] == 1).all() and not one['fooled'].all()       # one clipped step does not cross every boundary
    for r in (full, one): assert r['steps'].dtype == torch.int64


@pytest.mark.parametrize('overshoot', [None, 0.5])
def test_deepfool_eval_overshoot_scales_the_minimal_perturbation(overshoot):
    """On an affine classifier DeepFool's first step lands on the closest boundary: ||r|| = d + 1e-4 with
    d = min_k |f_k - f_l| / ||w_k - w_l||; the overshoot eta (default 0.02) makes ||x_adv - x|| = (1 + eta) (d + 1e-4)."""
    m = linear_model()
    x = 0.4 + 0.2 * torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(): f = m(x)
    lab, W = f.argmax(1), m[1].weight.detach()
    d = torch.stack([min((f[i, k] - f[i, lab[i]]).abs() / (W[k] - W[lab[i]]).norm() for k in range(4) if k != lab[i])
                     for i in range(len(x))])
    r = (fakegrad.deepfool_eval(m, m, x, lab) if overshoot is None else fakegrad.deepfool_eval(m, m, x, lab, overshoot=overshoot))
    eta = 0.02 if overshoot is None else overshoot
    assert ((r['x_adv'] > 0) & (r['x_adv'] < 1)).all()                 # the clip to [0,1] does not bind
    assert (r['steps'] == 1).all() and r['fooled'].all()
    assert torch.allclose(r['l2'], (1 + eta) * (d + 1e-4), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('candidates', [0, 1])
def test_deepfool_needs_two_candidate_classes(candidates):
    "`candidates` counts the current label and the classes it may move to: fewer than 2 leaves no boundary to step to."
    with pytest.raises(ValueError, match='^candidates: expected an int >= 2'): fakegrad.DeepFool(linear_model(), candidates=candidates)
    assert fakegrad.DeepFool(linear_model(), candidates=2).candidates == 2


def test_deepfool_holds_one_forward_graph_at_a_time():
    """`batch` docment: memory is one forward graph of `batch` images. When DeepFool linearises the image again, no
    tensor saved by the previous step's graph is still alive (counted through autograd's saved-tensor hooks)."""
    live, at_forward = [0], []
    class Saved:
        def __init__(self, t): self.t = t; live[0] += 1
        def __del__(self): live[0] -= 1
    class Probe(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model
        def forward(self, x):
            at_forward.append(live[0])
            return self.model(x)
    m = Probe(linear_model())
    x = torch.ones(1, 1, 4, 4)                                          # a corner image: several steps (see _corner_images)
    with torch.no_grad(): lab = m(x).argmax(1)
    at_forward.clear()
    atk = fakegrad.DeepFool(m, candidates=2, batch=1)
    with torch.autograd.graph.saved_tensors_hooks(Saved, lambda s: s.t):
        atk(x, lab)
    assert len(at_forward) > 2 and atk.n_steps.item() > 1
    assert at_forward == [0] * len(at_forward)


def test_protect_records_the_scale_used():
    "pm.fakegrad holds the public facts of the protection, the scaling factor S_a among them (as a float)."
    m, x = linear_model(), torch.rand(3, 1, 4, 4)
    pm, _ = fakegrad.protect(m, scale=3, seed=0, example=x)
    assert pm.fakegrad == dict(method='fake_gradient', layer='1', num_classes=4, scale=3.0, fake_bias='paper')
    assert isinstance(pm.fakegrad['scale'], float)
    assert fakegrad.protect(m, seed=0, example=x)[0].fakegrad['scale'] == 2.0          # the default S_a


def test_fake_biases_authors_rule_default_scale_is_two():
    "fake_biases' signature documents S_a = 2.0: b_F = (max b - |b|) * 2 * sign(b), sign(0) = +1 (the authors' rule)."
    b = torch.tensor([1.0, -0.5, 0.0, 0.25])
    assert torch.equal(fakegrad.fake_biases(b, fake_bias='authors'), torch.tensor([0.0, -1.0, 2.0, 1.5]))


def test_random_weight_without_a_seed_draws_fresh_fake_weights():
    "seed=None (the default): key and Gaussian W_F come from the CSPRNG; two calls differ, and each decrypts exactly."
    m, x = linear_model(), torch.rand(3, 1, 4, 4)
    (pa, ka), (pb, kb) = fakegrad.random_weight(m, example=x), fakegrad.random_weight(m, example=x)
    with torch.no_grad():
        for p, k in ((pa, ka), (pb, kb)): assert (fakegrad.decrypt(p(x), k) - m(x)).abs().max() <= 1e-6
    Wa = pa[1].weight.detach()[fakegrad.fake_indices(ka)]               # the K fake rows, in class order
    Wb = pb[1].weight.detach()[fakegrad.fake_indices(kb)]
    assert not torch.equal(Wa, Wb)


def test_find_fc_names_the_linear_layers_when_the_layer_is_missing():
    "An unknown `layer` is refused by name, with the model's nn.Linear layers listed to choose from."
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))
    with pytest.raises(ValueError, match=r"^layer: no submodule 'fc' in the model; its nn.Linear layers are \['1', '3'\]"):
        fakegrad.find_fc(m, 'fc', torch.rand(2, 1, 4, 4))


@pytest.mark.parametrize('bad', [[[0.5, -1.0]], None])
def test_fake_weights_refuse_what_is_not_a_tensor_naming_its_type(bad):
    with pytest.raises(ValueError, match=r'^W_o: expected a K x D float weight matrix, got ' + type(bad).__name__ + '$'):
        fakegrad.fake_weights(bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA: the fingerprint of a CPU layer needs no device move')
def test_protect_on_the_gpu_gives_the_same_fingerprint_as_on_the_cpu():
    "The public fingerprint identifies the protected layer whatever device it lives on (it hashes a CPU float32 copy)."
    m, x = linear_model(), torch.rand(3, 1, 4, 4)
    _, k_cpu = fakegrad.protect(m, seed=0, example=x)
    pm, k_gpu = fakegrad.protect(linear_model().cuda(), seed=0, example=x.cuda())
    assert k_gpu.fingerprint == k_cpu.fingerprint
    assert fakegrad.check_key(k_gpu, pm) is k_gpu


def test_make_attack_square_uses_the_square_attacks_initial_square_size():
    "Square Attack (Andriushchenko et al.) starts from squares covering p_init = 0.8 of the image (its and torchattacks' default): the attack evaluated is the published one."
    import inspect, torchattacks
    a = fakegrad.make_attack('square', linear_model(), eps=0.1)
    assert a.p_init == inspect.signature(torchattacks.Square.__init__).parameters['p_init'].default == 0.8


# ------------------------------------------------------------------------------ survivors of sample 78
def test_protect_with_a_given_key_or_seed_keeps_the_keys_identity():
    """The key `protect` returns is the key it was given, bound to the layer: same permutation, same secret nonce and so
    the same public `key_id`; with an int seed the whole key (nonce included) is reproducible (`Key.generate` docment)."""
    m, x = linear_model(), torch.rand(3, 1, 4, 4)
    k = fakegrad.Key.generate(8, seed=1)
    pm, kb = fakegrad.protect(m, key=k, example=x)
    assert kb.key_id == k.key_id and torch.equal(kb.perm, k.perm) and kb.layer == '1'
    assert bytes(pm.fakegrad_key_id.tolist()).hex() == k.key_id          # the id stored with the model is the given key's
    assert fakegrad.protect(m, seed=3, example=x)[1] == fakegrad.protect(m, seed=3, example=x)[1]


def test_protect_works_on_a_bfloat16_model():
    "A bfloat16 classifier is protected like any float one: its layer is fingerprinted and the outputs decrypt exactly."
    m, x = linear_model().to(torch.bfloat16), torch.rand(5, 1, 4, 4, dtype=torch.bfloat16)
    pm, key = fakegrad.protect(m, seed=0, example=x)
    assert fakegrad.check_key(key, pm) is key and len(key.fingerprint) == 64
    with torch.no_grad(): assert torch.equal(fakegrad.decrypt(pm(x), key, model=pm), m(x))


def test_protect_without_a_linear_layer_names_the_models_type():
    "The error says which model has no nn.Linear layer (its class), under the argument's name."
    class NoFC(nn.Module):
        def forward(self, x): return x.flatten(1)
    with pytest.raises(ValueError, match=r'^model: NoFC has no nn.Linear layer'): fakegrad.protect(NoFC(), example=torch.rand(2, 4))


def test_trailing_softmax_error_names_the_module_type():
    "A classifier ending in a Softmax module is refused, naming that module and its type (not the type of its output)."
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.Softmax(-1))
    with pytest.raises(ValueError, match=r"^model: its output is not produced by a final nn.Linear but by '2' \(Softmax\)"):
        fakegrad.protect(m, example=torch.rand(2, 1, 4, 4))


def test_find_fc_traces_a_hidden_linear_that_returns_a_tuple():
    """Only the final layer's output must be a tensor of logits: a hidden nn.Linear subclass that returns (features, aux)
    does not stop the tracing, and the model is protected and decrypts exactly."""
    class PairLinear(nn.Linear):
        def forward(self, x):
            y = super().forward(x)
            return y, y.detach().norm()
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = PairLinear(16, 8), nn.Linear(8, 3)
        def forward(self, x): return self.fc2(self.fc1(x.flatten(1))[0].relu())
    torch.manual_seed(0)
    m, x = Net(), torch.rand(4, 1, 4, 4)
    assert fakegrad.find_fc(m, example=x) == ('fc2', m.fc2)
    pm, key = fakegrad.protect(m, seed=0, example=x)
    with torch.no_grad(): assert (fakegrad.decrypt(pm(x), key) - m(x)).abs().max() <= 1e-6
