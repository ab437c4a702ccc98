"""``tinygrad_rnn.nn`` against ``torch.nn`` (float64, weights copied, ≤ 1e-10): every layer's output
and all parameter and input gradients, over hypothesis-drawn sizes, sequence lengths, batch sizes
and initial states; then the ``Module`` machinery, ``state_dict`` round trips, seeding, ``nn.init``
and ``nn.batches``.  torch is the oracle: it shares no code with the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn

RTOL, ATOL = 1e-10, 1e-12
sizes = st.integers(1, 4)


def _copy_weights(ours: nn.Module, theirs: torch.nn.Module) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _close(a, b) -> None:
    np.testing.assert_allclose(np.asarray(a), b.detach().numpy() if isinstance(b, torch.Tensor) else b,
                               rtol=RTOL, atol=ATOL)


def _compare(ours: nn.Module, theirs: torch.nn.Module, inputs: list[np.ndarray], run_ours, run_theirs,
             seed: int = 0) -> None:
    """Outputs, input gradients and parameter gradients of a random weighting of the outputs."""
    theirs = theirs.double()
    _copy_weights(ours, theirs)
    xs = [tg.Tensor(a, requires_grad=True) for a in inputs]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    outs, touts = run_ours(*xs), run_theirs(*ts)
    rng = np.random.default_rng(seed)
    loss, tloss = 0.0, 0.0
    for o, t in zip(outs, touts):
        _close(o.data, t)
        w = rng.standard_normal(o.shape)
        loss = loss + (o * w).sum()
        tloss = tloss + (t * torch.tensor(w)).sum()  # (a copy: the engine keeps w read-only)
    loss.backward()
    tloss.backward()
    for x, t in zip(xs, ts):
        _close(x.grad, t.grad)
    tparams = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(tparams)
    for name, p in ours.named_parameters():
        _close(p.grad, tparams[name].grad)


# ----------------------------------------------------------------------------- layers against torch.nn
@settings(max_examples=15)
@given(i=sizes, o=sizes, lead=st.lists(sizes, max_size=2), bias=st.booleans(), seed=st.integers(0, 99))
def test_linear_matches_torch(i, o, lead, bias, seed):
    x = np.random.default_rng(seed).standard_normal((*lead, i))
    ours, theirs = nn.Linear(i, o, bias=bias), torch.nn.Linear(i, o, bias=bias)
    _compare(ours, theirs, [x], lambda x: [ours(x)], lambda x: [theirs(x)], seed)


@settings(max_examples=15)
@given(num=st.integers(1, 6), dim=sizes, n=st.integers(1, 8), seed=st.integers(0, 99))
def test_embedding_matches_torch_and_repeated_indices_accumulate(num, dim, n, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num, (2, n))
    ours, theirs = nn.Embedding(num, dim), torch.nn.Embedding(num, dim).double()
    _copy_weights(ours, theirs)
    out, tout = ours(idx), theirs(torch.from_numpy(idx))
    _close(out.data, tout)
    w = rng.standard_normal(out.shape)
    (out * w).sum().backward()
    (tout * torch.from_numpy(w)).sum().backward()
    _close(ours.weight.grad, theirs.weight.grad)


def test_embedding_refuses_an_index_numpy_would_wrap():
    e = nn.Embedding(3, 2)
    with pytest.raises(IndexError, match="Embedding: index -1 is out of range for 3 embeddings"):
        e(np.array([0, -1]))
    with pytest.raises(IndexError, match="index 3 is out of range"):
        e(np.array([3]))


@settings(max_examples=15)
@given(lead=st.lists(sizes, min_size=1, max_size=2), last=st.lists(st.integers(2, 4), min_size=1, max_size=2),
       affine=st.booleans(), seed=st.integers(0, 99))
def test_layer_norm_matches_torch(lead, last, affine, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, *last))
    ours, theirs = nn.LayerNorm(tuple(last), elementwise_affine=affine), torch.nn.LayerNorm(tuple(last),
                                                                                             elementwise_affine=affine)
    if affine:  # weights other than 1 and 0, so their gradients are exercised
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(rng.standard_normal(last)))
            theirs.bias.copy_(torch.from_numpy(rng.standard_normal(last)))
    _compare(ours, theirs, [x], lambda x: [ours(x)], lambda x: [theirs(x)], seed)


@pytest.mark.parametrize("name", ["Tanh", "ReLU", "Sigmoid", "SiLU", "LeakyReLU", "ELU", "Softplus", "Softmax",
                                  "LogSoftmax", "Identity", "Flatten"])
def test_activation_modules_match_torch(name):
    x = np.random.default_rng(1).standard_normal((3, 2, 4)) + 0.05
    ours, theirs = getattr(nn, name)(), getattr(torch.nn, name)(**({"dim": -1} if "Softmax" in name else {}))
    _compare(ours, theirs, [x], lambda x: [ours(x)], lambda x: [theirs(x)])


def test_gelu_is_the_tanh_form_and_refuses_the_exact_one():
    x = np.linspace(-3, 3, 7)
    ours, theirs = nn.GELU(), torch.nn.GELU(approximate="tanh")
    _compare(ours, theirs, [x], lambda x: [ours(x)], lambda x: [theirs(x)])
    with pytest.raises(ValueError, match="only approximate='tanh'"):
        nn.GELU(approximate="none")


# ----------------------------------------------------------------------------- recurrent cells and layers
CELLS = {"RNNCell": (nn.RNNCell, torch.nn.RNNCell), "LSTMCell": (nn.LSTMCell, torch.nn.LSTMCell),
         "GRUCell": (nn.GRUCell, torch.nn.GRUCell)}


@pytest.mark.parametrize("kind", sorted(CELLS))
@settings(max_examples=12)
@given(i=sizes, h=sizes, b=st.one_of(st.none(), sizes), given_state=st.booleans(), bias=st.booleans(),
       seed=st.integers(0, 99))
def test_cells_match_torch(kind, i, h, b, given_state, bias, seed):
    rng = np.random.default_rng(seed)
    lead = () if b is None else (b,)
    ours_cls, theirs_cls = CELLS[kind]
    ours, theirs = ours_cls(i, h, bias=bias), theirs_cls(i, h, bias=bias)
    inputs = [rng.standard_normal((*lead, i))]
    n_state = 2 if kind == "LSTMCell" else 1
    if given_state:
        inputs += [rng.standard_normal((*lead, h)) for _ in range(n_state)]

    def run(cell, *a):
        state = None if len(a) == 1 else (a[1] if n_state == 1 else (a[1], a[2]))
        out = cell(a[0], state)
        return list(out) if isinstance(out, tuple) else [out]

    _compare(ours, theirs, inputs, lambda *a: run(ours, *a), lambda *a: run(theirs, *a), seed)


SEQS = {"RNN": (nn.RNN, torch.nn.RNN), "LSTM": (nn.LSTM, torch.nn.LSTM), "GRU": (nn.GRU, torch.nn.GRU)}


@pytest.mark.parametrize("kind", sorted(SEQS))
@settings(max_examples=10)
@given(i=sizes, h=sizes, t=st.integers(1, 5), b=st.one_of(st.none(), sizes), layers=st.integers(1, 2),
       batch_first=st.booleans(), given_state=st.booleans(), seed=st.integers(0, 99))
def test_sequence_layers_match_torch(kind, i, h, t, b, layers, batch_first, given_state, seed):
    rng = np.random.default_rng(seed)
    ours_cls, theirs_cls = SEQS[kind]
    ours = ours_cls(i, h, num_layers=layers, batch_first=batch_first)
    theirs = theirs_cls(i, h, num_layers=layers, batch_first=batch_first)
    if b is None:
        x_shape, s_shape = (t, i), (layers, h)
    else:
        x_shape, s_shape = ((b, t, i) if batch_first else (t, b, i)), (layers, b, h)
    inputs = [rng.standard_normal(x_shape)]
    lstm = kind == "LSTM"
    if given_state:
        inputs += [rng.standard_normal(s_shape) for _ in range(2 if lstm else 1)]

    def run(layer, *a):
        state = None if len(a) == 1 else ((a[1], a[2]) if lstm else a[1])
        out, last = layer(a[0], state)
        return [out, *last] if lstm else [out, last]

    _compare(ours, theirs, inputs, lambda *a: run(ours, *a), lambda *a: run(theirs, *a), seed)


def test_a_torch_state_dict_loaded_into_our_gru_gives_torchs_outputs():
    torch.manual_seed(0)
    theirs = torch.nn.GRU(3, 5, num_layers=2, batch_first=True).double()
    ours = nn.GRU(3, 5, num_layers=2, batch_first=True)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    out, h = ours(x)
    tout, th = theirs(torch.from_numpy(x))
    _close(out.data, tout)
    _close(h.data, th)


def test_sequence_layers_refuse_what_they_do_not_do():
    with pytest.raises(ValueError, match="dropout between layers is not supported"):
        nn.LSTM(2, 3, num_layers=2, dropout=0.5)
    with pytest.raises(ValueError, match="bidirectional=True is not supported"):
        nn.GRU(2, 3, bidirectional=True)
    with pytest.raises(ValueError, match=r"h0 of shape \(2, 3\); expected \(1, 4, 3\)"):
        nn.RNN(2, 3)(np.zeros((5, 4, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no time steps"):
        nn.RNN(2, 3)(np.zeros((0, 4, 2)))


# ----------------------------------------------------------------------------- Module
class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(3, 4)
        self.blocks = nn.Sequential(nn.Tanh(), nn.Linear(4, 4))
        self.scale = nn.Parameter(np.ones(4))
        self.decoder = self.encoder  # shared: given once, under its first name

    def forward(self, x):
        return self.decoder(x) * 0.0 + self.blocks(self.encoder(x)) * self.scale


def test_parameters_are_registered_by_assignment_with_stable_dotted_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["scale", "encoder.weight", "encoder.bias",
                                                      "blocks.1.weight", "blocks.1.bias"]
    assert len(list(net.parameters())) == 5
    assert [n for n, _ in net.named_modules()] == ["", "encoder", "blocks", "blocks.0", "blocks.1"]  # decoder: shared
    assert repr(net).startswith("Net(\n  (encoder): Linear(in_features=3, out_features=4, bias=True)")
    net.extra = nn.Parameter(np.zeros(2))
    assert "extra" in dict(net.named_parameters())
    del net.extra
    assert "extra" not in dict(net.named_parameters())


def test_module_misuse_is_a_clear_error():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) before assigning attributes"):
        Early()
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign Tensor to parameter 'weight'"):
        lin.weight = tg.Tensor(np.ones((2, 2)))
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        nn.Parameter(np.array([1, 2]))


def test_zero_grad_and_accumulation_match_torch():
    ours, theirs = nn.Linear(3, 2), torch.nn.Linear(3, 2).double()
    _copy_weights(ours, theirs)
    x = np.random.default_rng(0).standard_normal((4, 3))
    for _ in range(2):  # two backward passes accumulate
        ours(x).sum().backward()
        theirs(torch.from_numpy(x)).sum().backward()
    _close(ours.weight.grad, theirs.weight.grad)
    ours.zero_grad()
    theirs.zero_grad()
    assert ours.weight.grad is None and theirs.weight.grad is None


def test_state_dict_round_trips_bit_exactly_through_a_file(tmp_path):
    tg.manual_seed(3)
    net = nn.LSTM(3, 4, num_layers=2)
    tg.save(net.state_dict(), tmp_path / "lstm.npz")
    other = nn.LSTM(3, 4, num_layers=2)
    assert not all(np.array_equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))
    other.load_state_dict(tg.load(tmp_path / "lstm.npz"))
    for (k, a), (k2, b) in zip(net.state_dict().items(), other.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_load_state_dict_refuses_missing_unexpected_and_misshapen_entries_and_writes_nothing():
    net = nn.Linear(3, 2)
    before = net.state_dict()
    sd = dict(before)
    del sd["bias"]
    with pytest.raises(nn.StateDictError, match="missing 'bias'"):
        net.load_state_dict(sd)
    with pytest.raises(nn.StateDictError, match="unexpected 'extra'"):
        net.load_state_dict({**before, "extra": np.ones(1)})
    bad = {"weight": np.zeros((3, 2)), "bias": np.full(2, 7.0)}
    with pytest.raises(nn.StateDictError, match=r"'weight' has shape \(3, 2\); the model's is \(2, 3\)"):
        net.load_state_dict(bad)
    for k, v in net.state_dict().items():  # the bias (checked later) was not written either
        np.testing.assert_array_equal(v, before[k])
    missing, unexpected = net.load_state_dict({"bias": np.zeros(2), "other": 1.0}, strict=False)
    assert missing == ["weight"] and unexpected == ["other"] and net.bias.data.tolist() == [0.0, 0.0]


def test_loading_into_a_parameter_a_live_graph_saved_is_refused():
    net = nn.Linear(2, 2)
    y = net(np.ones((1, 2))).sum()
    with pytest.raises(nn.StateDictError, match="cannot write 'weight'.*nothing was written"):
        net.load_state_dict({k: v + 1 for k, v in net.state_dict().items()})
    y.backward()
    net.load_state_dict({k: v + 1 for k, v in net.state_dict().items()})  # fine once the graph is freed


# ----------------------------------------------------------------------------- dropout, seeding, init, batches
def test_dropout_is_deterministic_under_a_seed_scaled_and_the_identity_in_eval():
    x = np.ones((200, 50))
    tg.manual_seed(5)
    a = nn.Dropout(0.3)(x).data
    tg.manual_seed(5)
    b = nn.Dropout(0.3)(x).data
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, 1.0 / 0.7}
    assert abs((a == 0).mean() - 0.3) < 0.02  # 10 000 draws: 4.6 standard deviations
    d = nn.Dropout(0.3).eval()
    np.testing.assert_array_equal(d(x).data, x)
    assert (nn.Dropout(1.0)(x).data == 0).all() and (nn.Dropout(0.0)(x).data == x).all()
    t = tg.Tensor(x, requires_grad=True)
    out = nn.Dropout(0.5, generator=np.random.default_rng(1))(t)
    out.sum().backward()
    np.testing.assert_array_equal(t.grad, out.data)  # ∂/∂x = mask/(1-p), which equals the output of ones


def test_manual_seed_makes_creation_layers_and_shuffles_reproducible():
    def draw():
        tg.manual_seed(11)
        return (tg.randn(3).data, tg.rand(2).data, nn.Linear(2, 3).weight.data,
                [b[0].tolist() for b in nn.batches(np.arange(6), batch_size=4, shuffle=True)])

    first, second = draw(), draw()
    for a, b in zip(first[:3], second[:3]):
        np.testing.assert_array_equal(a, b)
    assert first[3] == second[3]
    np.random.seed(0)  # numpy's legacy global does not reach the library's generator, and is not needed
    with pytest.raises(TypeError, match="non-negative integer"):
        tg.manual_seed(-1)


def test_init_functions_follow_their_definitions():
    rng = np.random.default_rng(0)
    w = nn.Parameter(np.empty((300, 200)))
    nn.init.xavier_uniform_(w, generator=rng)
    bound = np.sqrt(6.0 / 500)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    nn.init.kaiming_normal_(w, nonlinearity="relu", generator=rng)
    assert abs(w.data.std() - np.sqrt(2.0 / 200)) < 0.02 * np.sqrt(2.0 / 200)  # 60 000 draws
    nn.init.orthogonal_(w, gain=2.0, generator=rng)
    np.testing.assert_allclose(w.data.T @ w.data, 4.0 * np.eye(200), atol=1e-10)
    nn.init.zeros_(w)
    assert not w.data.any()
    assert nn.init.calculate_gain("tanh") == 5.0 / 3.0
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(nn.Parameter(np.empty(3)))


def test_batches_cover_every_row_once_and_drop_last():
    x, y = np.arange(10), np.arange(10) * 2
    got = list(nn.batches(x, y, batch_size=3, shuffle=True, generator=np.random.default_rng(0)))
    assert [len(b[0]) for b in got] == [3, 3, 3, 1]
    assert sorted(np.concatenate([b[0] for b in got]).tolist()) == list(range(10))
    assert all((b[1] == 2 * b[0]).all() for b in got)  # rows stay aligned
    assert [len(b[0]) for b in nn.batches(x, batch_size=3, drop_last=True)] == [3, 3, 3]
    with pytest.raises(ValueError, match="same first axis"):
        list(nn.batches(x, np.arange(3), batch_size=2))
    with pytest.raises(ValueError, match="positive integer"):
        list(nn.batches(x, batch_size=0))


# ----------------------------------------------------------------------------- the README's examples
def test_a_two_layer_mlp_learns_xor_in_under_fifteen_lines():
    tg.manual_seed(0)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = tg.optim.Adam(model.parameters(), lr=0.05)
    for step in range(300):
        opt.zero_grad()
        loss = tg.cross_entropy(model(X), y, reduction="mean")
        loss.backward()
        opt.step()
    assert (model(X).data.argmax(-1) == y).all() and float(loss.data) < 0.05


def test_apply_visits_children_first_then_the_module_as_torch():
    net = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.Tanh(), nn.ReLU()))
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    tnet = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Sequential(torch.nn.Tanh(), torch.nn.ReLU()))
    tseen = []
    tnet.apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen == ["Linear", "Tanh", "ReLU", "Sequential", "Sequential"]
