"""Book-keeping (BK) per-example clipping: DP-SGD's clipped sum from ONE backward pass.

Bu et al., "Differentially Private Optimization on Large Model at Small Cost" (ICML 2023,
arXiv:2210.00038), with the per-layer choice of mixed ghost clipping (Bu et al. 2022,
arXiv:2205.10683). For a layer whose per-example gradient is ``g_i = A_iᵀ G_i`` (activations
A_i: (T, d), output gradients G_i: (T, p), T positions of example i):

1. the forward pass keeps each supported layer's input; the one backward pass keeps its output
   gradient, and computes no parameter gradient (the parameters do not require grad during the
   pass, so autograd only propagates to the inputs);
2. per layer, ``‖g_i‖²`` either by the ghost norm ``Σ_{s,t} (A_iA_iᵀ)_{st} (G_iG_iᵀ)_{st}``
   (for a convolution on the unfolded input) or from the materialised ``g_i`` (for a
   convolution one grouped weight-gradient with the batch as groups): ghost when 2T² < p·d,
   the rule of mixed ghost clipping;
3. ``c_i = min(1, C / (‖g_i‖ + 1e-6))`` from the total norm over layers (Opacus's flat clipping);
4. per layer, ``Σ_i c_i g_i`` as one weighted product: the weight gradient computed from the
   c-scaled output gradients ``c_i G_i`` and the kept activations (ghost layers), or
   ``Σ_i c_i g_i`` of the materialised gradients (a (B,)·(B, p·d) product). No second backward.

The clipped sum lands in ``p.grad`` (as after Opacus's ghost clipping), so Opacus's
``DPOptimizerFastGradientClipping`` adds the noise (through dpkit's source), divides by B and
charges the accountant. Layers with trainable parameters must have a rule (:data:`BK_RULES`:
Linear, Conv2d, Embedding, GroupNorm, LayerNorm, plus :func:`register_bookkeeping_rule` for
custom ones such as dpkit's public-BN affine); any other is refused when the model is wrapped.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from dpkit.errors import DPKitError, PrivacyViolation, require

__all__ = ["BKRule", "BK_RULES", "BookKeepingModule", "LayerNorms", "clip_factors",
           "materialized_rule", "register_bookkeeping_rule", "unsupported_layers"]

Grads = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LayerNorms:
    """One layer's share of a BK step.

    Attributes:
        norm_sq: (B,) ‖per-example gradient‖² over the layer's trainable parameters.
        clipped_sum: ``c (B,) -> {param name: Σ_i c_i g_i}`` for the trainable parameters.
    """

    norm_sq: torch.Tensor
    clipped_sum: Callable[[torch.Tensor], Grads]


@dataclass(frozen=True)
class BKRule:
    """How BK clips one layer type.

    Attributes:
        norms: ``(layer, x, g) -> LayerNorms`` from the layer's input x (B, ...) and output
            gradient g (B, ...) of the mean loss: per-example loss gradients divided by B. The
            engine multiplies the norms by B² and the clipping factors by B (saving a pass over
            every g), so a rule must be linear in g, as every per-example gradient is.
        refuse: ``layer -> reason or None``: a configuration of the layer BK cannot clip.
    """

    norms: Callable[[nn.Module, torch.Tensor, torch.Tensor], LayerNorms]
    refuse: Callable[[nn.Module], str | None] = field(default=lambda layer: None)


def _trainable(layer: nn.Module, name: str) -> bool:
    p = getattr(layer, name, None)
    return isinstance(p, nn.Parameter) and p.requires_grad


def _ghost_is_cheaper(t: int, d: int, p: int) -> bool:
    """Mixed ghost clipping's choice (Bu et al. 2022, arXiv:2205.10683): the ghost norm when
    2T² < p·d (its (T, T) Gram matrices are smaller than the (p, d) per-example gradient)."""
    return 2 * t * t < d * p


def _weighted(c: torch.Tensor, per_example: torch.Tensor) -> torch.Tensor:
    """Σ_i c_i t_i: (B,), (B, ...) -> (...)."""
    return torch.tensordot(c.to(per_example.dtype), per_example, dims=1)


def _scaled(c: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """c_i G_i: (B,), (B, ...) -> (B, ...)."""
    return g * c.to(g.dtype).view(-1, *([1] * (g.dim() - 1)))


def clip_factors(norms: torch.Tensor, max_grad_norm: float) -> torch.Tensor:
    """Opacus's flat clipping factors ``min(1, C / (‖g_i‖ + 1e-6))``: (B,) -> (B,)."""
    return (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)


def materialized_rule(per_example: Callable[[nn.Module, torch.Tensor, torch.Tensor], Grads]
                      ) -> BKRule:
    """A rule for a layer with few parameters: ``per_example(layer, x, g)`` returns each
    trainable parameter's per-example gradients (B, *param.shape); norms and sums follow."""
    def norms(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> LayerNorms:
        grads = per_example(layer, x, g)
        norm_sq = sum((t.reshape(t.shape[0], -1).pow(2).sum(1) for t in grads.values()),
                      x.new_zeros(x.shape[0], dtype=g.dtype))  # (B,)
        return LayerNorms(norm_sq, lambda c: {k: _weighted(c, t) for k, t in grads.items()})

    return BKRule(norms)


# --- nn.Linear: x (B, ..., d), g (B, ..., p) ------------------------------------------------------

def _linear_norms(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> LayerNorms:
    b = x.shape[0]
    a, gg = x.reshape(b, -1, x.shape[-1]), g.reshape(b, -1, g.shape[-1])  # (B, T, d), (B, T, p)
    t, d, p = a.shape[1], a.shape[2], gg.shape[2]
    want_w, want_b = _trainable(layer, "weight"), _trainable(layer, "bias")
    norm_sq = g.new_zeros(b)
    per_w = gb = None
    if want_w:
        if t == 1:
            norm_sq = norm_sq + a.pow(2).sum((1, 2)) * gg.pow(2).sum((1, 2))
        elif _ghost_is_cheaper(t, d, p):  # ghost norm: (B, T, T) ⊙ (B, T, T)
            norm_sq = norm_sq + (torch.bmm(a, a.transpose(1, 2))
                                 * torch.bmm(gg, gg.transpose(1, 2))).sum((1, 2))
        else:  # materialised per-example gradients (B, p, d)
            per_w = torch.bmm(gg.transpose(1, 2), a)
            norm_sq = norm_sq + per_w.pow(2).sum((1, 2))
    if want_b:
        gb = gg.sum(1)  # (B, p)
        norm_sq = norm_sq + gb.pow(2).sum(1)

    def clipped_sum(c: torch.Tensor) -> Grads:
        out = {}
        if want_w:
            out["weight"] = (_weighted(c, per_w) if per_w is not None
                             else _scaled(c, gg).reshape(-1, p).t() @ a.reshape(-1, d))  # (p, d)
        if want_b:
            out["bias"] = _weighted(c, gb)
        return out

    return LayerNorms(norm_sq, clipped_sum)


# --- nn.Conv2d: x (B, C, H, W), g (B, O, H', W') --------------------------------------------------

def _conv_refuse(layer: nn.Module) -> str | None:
    if isinstance(layer.padding, str) or layer.padding_mode != "zeros":
        return (f"padding={layer.padding!r}, padding_mode={layer.padding_mode!r} (bk supports "
                f"integer zero padding)")
    return None


def _unfold(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The convolution's input patches (B, C·kh·kw, T), ordered as ``F.unfold``'s; a strided
    view and one copy, faster than im2col on CPU."""
    if tuple(layer.dilation) != (1, 1):
        return F.unfold(x, layer.kernel_size, dilation=layer.dilation, padding=layer.padding,
                        stride=layer.stride)
    (ph, pw), (kh, kw), (sh, sw) = layer.padding, layer.kernel_size, layer.stride
    xp = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x
    v = xp.unfold(2, kh, sh).unfold(3, kw, sw)  # (B, C, H', W', kh, kw)
    return v.permute(0, 1, 4, 5, 2, 3).reshape(x.shape[0], -1, v.shape[2] * v.shape[3])


def _conv_weight_grad(layer: nn.Module, x: torch.Tensor, g: torch.Tensor, groups: int,
                      weight_shape: tuple[int, ...]) -> torch.Tensor:
    """The convolution's weight gradient from its input and output gradient (no autograd)."""
    return torch.ops.aten.convolution_backward(
        g, x, x.new_empty(1).expand(weight_shape), None, list(layer.stride), list(layer.padding),
        list(layer.dilation), False, [0, 0], groups, [False, True, False])[1]


def _phase_gram_fits(layer: nn.Module, t: int, hq: int, wq: int) -> bool:
    """Whether the input Gram of the ghost norm is cheaper from the stride phases (see
    :func:`_input_gram`) than from the unfolded input: no dilation, kernel a multiple of the
    stride, and fewer multiply-adds (Nq² s_h s_w against T² k_h k_w per input channel)."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    return (tuple(layer.dilation) == (1, 1) and kh % sh == 0 and kw % sw == 0
            and (hq * wq) ** 2 * sh * sw < t * t * kh * kw)


def _phase_range(a: int, s: int, pad: int, n_in: int, n_out: int) -> tuple[int, int, int]:
    """Phase a of stride s over a zero-padded axis: the phase positions y0 .. y0 + n - 1 that hold
    input (padded index s·y + a = input index + pad), the first input index x0 they read, and n."""
    y0 = max(0, -((a - pad) // s))  # ceil((pad - a) / s)
    x0 = s * y0 + a - pad
    return y0, x0, max(0, min(n_out - y0, -((x0 - n_in) // s)))


def _stride_phases(x: torch.Tensor, pad: tuple[int, int], stride: tuple[int, int],
                   size: tuple[int, int]) -> torch.Tensor:
    """Space-to-depth of the zero-padded input: (B, C, H, W) -> (B, C, s_h, s_w, hq, wq) with
    ``out[:, c, a, e, y, z] = x_padded[:, c, s_h·y + a, s_w·z + e]``, written phase by phase
    from x (no padded copy), zeroing only the padding."""
    (ph, pw), (sh, sw), (hq, wq) = pad, stride, size
    u = x.new_empty(x.shape[0], x.shape[1], sh, sw, hq, wq)
    for a in range(sh):
        y0, r0, ny = _phase_range(a, sh, ph, x.shape[2], hq)
        for e in range(sw):
            z0, c0, nz = _phase_range(e, sw, pw, x.shape[3], wq)
            v = u[:, :, a, e]  # (B, C, hq, wq)
            v[:, :, y0:y0 + ny, z0:z0 + nz] = x[:, :, r0::sh, c0::sw][:, :, :ny, :nz]
            v[:, :, :y0].zero_(), v[:, :, y0 + ny:].zero_()
            v[:, :, y0:y0 + ny, :z0].zero_(), v[:, :, y0:y0 + ny, z0 + nz:].zero_()
    return u


def _input_gram(layer: nn.Module, x: torch.Tensor, ho: int, wo: int) -> torch.Tensor:
    """Per group, ``A_i A_iᵀ`` (B, G, T, T) of the unfolded input A_i (T, d), T = ho·wo.

    Without the unfold when :func:`_phase_gram_fits`: output position s reads the padded input at
    ``stride·s + kernel offset``; splitting the input into its s_h·s_w stride phases stacked as
    channels (space-to-depth, U: (s_h s_w C, Nq) per group, Nq = hq·wq phase positions), each
    offset is a shift (i, j) < (k_h/s_h, k_w/s_w) of one phase grid, so
    ``(A Aᵀ)[s, t] = Σ_(i,j) Q[s + (i,j), t + (i,j)]`` with ``Q = Uᵀ U`` (B, G, Nq, Nq).
    Otherwise the Gram of the unfolded input.
    """
    b, groups, t = x.shape[0], layer.groups, ho * wo
    (ph, pw), (kh, kw), (sh, sw) = layer.padding, layer.kernel_size, layer.stride
    hq, wq = ho - 1 + kh // sh, wo - 1 + kw // sw
    if not _phase_gram_fits(layer, t, hq, wq):
        a = _unfold(layer, x).view(b, groups, -1, t)  # (B, G, d, T)
        return a.transpose(2, 3) @ a
    u = _stride_phases(x, (ph, pw), (sh, sw), (hq, wq)).view(b, groups, -1, hq * wq)
    q = (u.transpose(2, 3) @ u).view(b, groups, hq, wq, hq, wq)  # (B, G, Nq, Nq)
    gram = None
    for i in range(kh // sh):
        for j in range(kw // sw):
            crop = q[:, :, i:i + ho, j:j + wo, i:i + ho, j:j + wo]  # (B, G, ho, wo, ho, wo)
            gram = crop.clone() if gram is None else gram.add_(crop)
    assert gram is not None
    return gram.view(b, groups, t, t)


def _conv_norms(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> LayerNorms:
    b, groups, (o, i, kh, kw) = x.shape[0], layer.groups, layer.weight.shape
    ho, wo = g.shape[2], g.shape[3]
    t, d, p = ho * wo, i * kh * kw, o // groups  # per group: A_i (T, d), G_i (T, p)
    want_w, want_b = _trainable(layer, "weight"), _trainable(layer, "bias")
    norm_sq = g.new_zeros(b)
    per_w = a1 = gb = None
    if want_w:
        gg = g.reshape(b, groups, p, t)
        if t == 1:  # g_i = G_i A_iᵀ is an outer product; the sum a (B·G)-batched product
            a1 = _unfold(layer, x).view(b, groups, d)  # (B, G, d)
            norm_sq = norm_sq + (a1.pow(2).sum(2) * gg.pow(2).sum((2, 3))).sum(1)
        elif _ghost_is_cheaper(t, d, p):  # ghost norm, per group: (B, G, T, T) ⊙ (B, G, T, T)
            gram_g = gg.transpose(2, 3) @ gg  # (B, G, T, T)
            norm_sq = norm_sq + (_input_gram(layer, x, ho, wo) * gram_g).sum((1, 2, 3))
        else:  # materialised per-example gradients (B, O, I, kh, kw): the batch as groups
            per_w = _conv_weight_grad(layer, x.reshape(1, -1, *x.shape[2:]),
                                      g.reshape(1, -1, *g.shape[2:]), b * groups,
                                      (b * o, i, kh, kw)).view(b, o, i, kh, kw)
            norm_sq = norm_sq + per_w.pow(2).sum((1, 2, 3, 4))
    if want_b:
        gb = g.sum((2, 3))  # (B, O)
        norm_sq = norm_sq + gb.pow(2).sum(1)

    def clipped_sum(c: torch.Tensor) -> Grads:
        out = {}
        if want_w:
            if per_w is not None:
                out["weight"] = _weighted(c, per_w)
            elif a1 is not None:  # Σ_i c_i G_i A_iᵀ per group: (G, p, B) @ (G, B, d)
                cg = _scaled(c, g.reshape(b, groups, p))
                out["weight"] = (cg.permute(1, 2, 0) @ a1.transpose(0, 1)).view(o, i, kh, kw)
            else:
                out["weight"] = _conv_weight_grad(layer, x, _scaled(c, g), groups, (o, i, kh, kw))
        if want_b:
            out["bias"] = _weighted(c, gb)
        return out

    return LayerNorms(norm_sq, clipped_sum)


# --- nn.Embedding: x (B, ...) indices, g (B, ..., D) ----------------------------------------------

def _embedding_refuse(layer: nn.Module) -> str | None:
    if layer.sparse or layer.scale_grad_by_freq:
        return "sparse or scale_grad_by_freq embedding"
    return None


def _embedding_norms(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> LayerNorms:
    b = x.shape[0]
    idx, gg = x.reshape(b, -1), g.reshape(b, -1, g.shape[-1])  # (B, T), (B, T, D)
    if layer.padding_idx is not None:  # the padding row receives no gradient
        gg = gg * (idx != layer.padding_idx).unsqueeze(-1).to(gg.dtype)
    if not _trainable(layer, "weight"):
        return LayerNorms(g.new_zeros(b), lambda c: {})
    if idx.shape[1] == 1:
        norm_sq = gg.pow(2).sum((1, 2))
    else:  # ghost norm: rows hit by positions s and t coincide
        same = (idx.unsqueeze(2) == idx.unsqueeze(1)).to(gg.dtype)  # (B, T, T)
        norm_sq = (same * torch.bmm(gg, gg.transpose(1, 2))).sum((1, 2))
    w = layer.weight

    def clipped_sum(c: torch.Tensor) -> Grads:
        return {"weight": w.new_zeros(w.shape).index_add_(
            0, idx.reshape(-1), _scaled(c, gg).reshape(-1, gg.shape[-1]))}

    return LayerNorms(norm_sq, clipped_sum)


# --- affine parameters of GroupNorm / LayerNorm: per-example gradients materialised ---------------

def _affine(layer: nn.Module, xhat: torch.Tensor, g: torch.Tensor, dims: tuple[int, ...]
            ) -> Grads:
    """Per-example gradients of ``y = xhat * weight + bias``, summed over ``dims``."""
    out = {}
    if _trainable(layer, "weight"):
        out["weight"] = (xhat * g).sum(dims) if dims else xhat * g
    if _trainable(layer, "bias"):
        out["bias"] = g.sum(dims) if dims else g
    return out


def _group_norm_grads(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> Grads:
    xhat = F.group_norm(x, layer.num_groups, eps=layer.eps)  # (B, C, ...)
    return _affine(layer, xhat, g, tuple(range(2, x.dim())))  # (B, C)


def _layer_norm_grads(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> Grads:
    xhat = F.layer_norm(x, layer.normalized_shape, eps=layer.eps)  # (B, ..., *shape)
    return _affine(layer, xhat, g, tuple(range(1, x.dim() - len(layer.normalized_shape))))


BK_RULES: dict[type, BKRule] = {
    nn.Linear: BKRule(_linear_norms),
    nn.Conv2d: BKRule(_conv_norms, _conv_refuse),
    nn.Embedding: BKRule(_embedding_norms, _embedding_refuse),
    nn.GroupNorm: materialized_rule(_group_norm_grads),
    nn.LayerNorm: materialized_rule(_layer_norm_grads),
}


def register_bookkeeping_rule(layer_type: type, rule: BKRule) -> None:
    """Let BK clip ``layer_type`` (exact type: a subclass may compute something else)."""
    BK_RULES[layer_type] = rule


def unsupported_layers(model: nn.Module) -> list[str]:
    """``"name (Type): reason"`` for each layer holding trainable parameters that BK cannot clip."""
    bad = []
    for name, m in model.named_modules():
        if not any(p.requires_grad for p in m.parameters(recurse=False)):
            continue
        rule = BK_RULES.get(type(m))
        reason = "no bk rule for this layer type" if rule is None else rule.refuse(m)
        if reason is not None:
            bad.append(f"'{name}' ({type(m).__name__}): {reason}")
    return bad


@dataclass
class _Record:
    """One call of a layer: its input (detached) and, after the backward, its output gradient."""

    x: torch.Tensor
    g: torch.Tensor | None = None


class BookKeepingModule(nn.Module):
    """Wraps a model so that ``loss.backward()`` leaves ``p.grad = Σ_i clip_C(∇ℓ_i)``.

    The loss must be a mean over the batch (``loss_reduction="mean"``): norms computed from the
    output gradients are multiplied by the batch size to get per-example ones, as Opacus does
    with the gradients. Each supported
    layer may run once per forward pass with hooks on (concatenate inputs instead of calling a
    layer twice).

    Args:
        module: the model; every layer with trainable parameters needs a rule in ``BK_RULES``.
        max_grad_norm: C.
        forbid_accumulation: refuse a second backward pass before the gradients are cleared
            (Poisson sampling: each sampled batch is one noisy step).
        freeze_params: parameters do not require grad during the pass, so autograd computes no
            (unclipped, discarded) parameter gradients; False only for speed comparisons.

    Raises:
        DPKitError: a layer with trainable parameters has no BK rule (named in the message).
    """

    def __init__(self, module: nn.Module, *, max_grad_norm: float,
                 forbid_accumulation: bool = True, freeze_params: bool = True) -> None:
        super().__init__()
        bad = unsupported_layers(module)
        require(not bad, f"grad_sample_mode='bk' cannot clip layer {bad[0] if bad else ''}; use "
                         f"grad_sample_mode='hooks' or freeze its parameters")
        self._module = module
        self.max_grad_norm = max_grad_norm
        self.forbid_accumulation = forbid_accumulation
        self.freeze_params = freeze_params
        self.hooks_enabled = True
        self._layers = [(name, m, BK_RULES[type(m)]) for name, m in module.named_modules()
                        if type(m) in BK_RULES and any(p.requires_grad
                                                       for p in m.parameters(recurse=False))]
        self._trainable = [p for p in module.parameters() if p.requires_grad]
        self._records: dict[nn.Module, list[_Record]] = {}
        self._capturing = False
        self._queued = False
        for _, m, _ in self._layers:
            m.register_forward_hook(self._capture)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not (self.hooks_enabled and torch.is_grad_enabled()):
            return self._module(*args, **kwargs)
        self._capturing = True
        try:
            with self._frozen():
                return self._module(*args, **kwargs)
        finally:
            self._capturing = False

    def disable_hooks(self) -> None:
        self.hooks_enabled = False

    def enable_hooks(self) -> None:
        self.hooks_enabled = True
        self._records.clear()

    @contextlib.contextmanager
    def _frozen(self) -> Iterator[None]:
        if not self.freeze_params:
            yield
            return
        for p in self._trainable:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in self._trainable:
                p.requires_grad_(True)

    def _capture(self, layer: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor
                 ) -> torch.Tensor | None:
        if not self._capturing:
            return None
        record = _Record(inputs[0].detach())
        self._records.setdefault(layer, []).append(record)
        if not output.requires_grad:  # nothing upstream needs a gradient: join the graph here
            output = output + torch.zeros((), dtype=output.dtype, device=output.device,
                                          requires_grad=True)

        def keep(grad: torch.Tensor) -> None:
            record.g = grad.detach()
            if not self._queued:
                self._queued = True
                torch.autograd.Variable._execution_engine.queue_callback(self._finish)

        output.register_hook(keep)
        return output

    def _finish(self) -> None:
        """End of the backward pass: norms, clipping factors, clipped sums into ``p.grad``."""
        self._queued = False
        records, self._records = self._records, {}
        done = []
        for name, layer, rule in self._layers:
            calls = [r for r in records.get(layer, []) if r.g is not None]
            if len(calls) > 1:
                raise DPKitError(f"layer '{name}' ran {len(calls)} times in one backward pass; "
                                 f"grad_sample_mode='bk' needs one call per layer (concatenate "
                                 f"the inputs) or use grad_sample_mode='hooks'")
            if calls:
                done.append((layer, rule, calls[0].x, calls[0].g))
        sizes = {x.shape[0] for _, _, x, _ in done}
        assert len(sizes) <= 1, f"layers saw different batch sizes {sizes}"
        sums: dict[nn.Parameter, torch.Tensor] = {}
        if sizes and sizes != {0}:
            b = sizes.pop()  # g holds per-example gradients / B: norms x B, factors x B
            layers = [(layer, rule.norms(layer, x, g)) for layer, rule, x, g in done]
            norm_sq = sum(n.norm_sq for _, n in layers)  # (B,)
            c = clip_factors(b * norm_sq.sqrt(), self.max_grad_norm)  # (B,)
            for layer, n in layers:
                for pname, grad in n.clipped_sum(b * c).items():
                    sums[getattr(layer, pname)] = grad
        if self.freeze_params and self.forbid_accumulation and any(
                p.grad is not None and bool(p.grad.any()) for p in self._trainable):
            raise PrivacyViolation(
                "a second backward pass before the step would add the same Poisson-sampled "
                "batch twice; call optimizer.zero_grad() and optimizer.step() after every "
                "backward (or use max_physical_batch_size)")
        for p in self._trainable:
            grad = sums.get(p, torch.zeros_like(p)).detach().view_as(p)
            if p.grad is None or not self.freeze_params:  # (else autograd wrote the unclipped one)
                p.grad = grad
            else:
                p.grad.add_(grad)

    def empty_batch_grads(self) -> None:
        """Zero clipped sums, for an empty batch that does not go through the model."""
        for p in self._trainable:
            p.grad = torch.zeros_like(p)
