"""The task heads of Hugging Face's RoFormer: pure head functions and thin classes over them.

Each class wraps a :class:`~roformer_np.model.RoFormerModel` (``self.roformer``) and a dict of head
parameters under Hugging Face's state-dict names (``self.head_weights``). Loading, weight tying, reporting of
missing/unused weights and saving are shared by every head (:class:`RoFormerPreTrainedHead`) and follow
Hugging Face:

* a head checkpoint has ``roformer.*`` backbone keys plus head keys; a bare ``RoFormerModel`` checkpoint
  (no prefix) loads into a head class, whose head is then newly initialised (seeded normal(0,
  ``initializer_range``) weights, zero biases, LayerNorm 1/0) with a warning naming the keys;
* keys the class does not use are reported (``unexpected_keys``) and warned about;
* the LM decoder weight is the word-embedding matrix unless ``tie_word_embeddings`` is False, and the
  decoder bias always is ``cls.predictions.bias``; saving omits those aliases as Hugging Face does.

Dimension legend: B batch, T tokens, C hidden size, E embedding size, V vocab size, N labels,
K choices (multiple choice).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any, Callable, ClassVar, TypeVar

import numpy as np

from . import lowp, ops
from .activations import get_activation
from .config import RoFormerConfig, config_for_loading, junnyu_field
from .device import InferenceModeMixin
from .generation import generate
from .generation_config import GENERATION_CONFIG_NAME, GenerationConfig
from .hub import pop_hub_kwargs
from .losses import (
    IGNORE_INDEX,
    causal_lm_loss,
    check_class_labels,
    cross_entropy,
    masked_lm_loss,
    question_answering_loss,
    sequence_classification_loss,
)
from .model import RoFormerModel, read_checkpoint, save_checkpoint
from .outputs import (
    BaseModelOutputWithPastAndCrossAttentions,
    CausalLMOutputWithCrossAttentions,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .weights import (
    BASE_PREFIX,
    DECODER_WEIGHT_KEY,
    LM_BIAS_KEY,
    LOWP_PRECISIONS,
    add_prefix,
    head_shapes,
    lowp_weight_keys,
    release_pages,
    split_head_checkpoint,
    tied_aliases,
)

Array = np.ndarray
Linear = Callable[..., Array]  # ops.linear or the native kernel: (x, weight, bias=None) -> x @ weight.T + bias
_Head = TypeVar("_Head", bound="RoFormerPreTrainedHead")
SUMMARY_TYPES = ("last", "first", "mean", "cls_index")


# ---------------------------------------------------------------------------------------------
# Pure head functions
# ---------------------------------------------------------------------------------------------
def lm_head(
    hidden: Array, dense_w: Array, dense_b: Array, ln_w: Array, ln_b: Array, decoder_w: Array, decoder_b: Array,
    eps: float, activation: str, linear: Linear = ops.linear,
) -> Array:
    """Masked/causal LM logits: dense -> act -> LayerNorm -> (tied) decoder. [B, T, C] -> [B, T, V].

    ``linear`` is the reference ``ops.linear`` or the native kernel of the same signature.
    """
    t = get_activation(activation)(linear(hidden, dense_w, dense_b))  # [B, T, E]
    t = ops.layer_norm(t, ln_w, ln_b, eps)
    return linear(t, decoder_w, decoder_b)  # [B, T, V]


def classification_head(
    hidden: Array, dense_w: Array, dense_b: Array, out_w: Array, out_b: Array, activation: str,
    linear: Linear = ops.linear,
) -> Array:
    """Sentence classification on the first token; the activation is ``hidden_act`` (not tanh).

    [B, T, C] -> [B, N]
    """
    x = get_activation(activation)(linear(hidden[:, 0], dense_w, dense_b))  # [B, C]
    return linear(x, out_w, out_b)  # [B, N]


def sequence_summary(
    hidden: Array, summary_type: str = "last", proj_w: Array | None = None, proj_b: Array | None = None,
    activation: str | None = None, linear: Linear = ops.linear,
) -> Array:
    """Hugging Face's SequenceSummary in eval mode. [B, T, C] -> [B, C] (or [B, N] with a projection).

    RoFormer's config defines no ``summary_*`` field, so the default pools the LAST position. ``cls_index``
    without indices (RoFormerForMultipleChoice never passes any) also takes the last position.
    """
    if summary_type in ("last", "cls_index"):
        pooled = hidden[:, -1]
    elif summary_type == "first":
        pooled = hidden[:, 0]
    elif summary_type == "mean":
        pooled = hidden.mean(axis=1)
    else:
        raise ValueError(f"summary_type must be one of {SUMMARY_TYPES}, got {summary_type!r}")
    if proj_w is not None:
        pooled = linear(pooled, proj_w, proj_b)
    if activation:
        pooled = get_activation(activation)(pooled)
    return pooled


def span_head(hidden: Array, weight: Array, bias: Array, linear: Linear = ops.linear) -> tuple[Array, Array]:
    """Question answering: start and end logits, each [B, T], from one [2, C] projection."""
    logits = linear(hidden, weight, bias)  # [B, T, 2]
    return np.ascontiguousarray(logits[..., 0]), np.ascontiguousarray(logits[..., 1])


def init_weights(shapes: dict[str, tuple[int, ...]], initializer_range: float, dtype: np.dtype, seed: int) -> dict:
    """Hugging Face's ``_init_weights`` for new head parameters, from a seeded generator.

    LayerNorm weights 1, biases 0, every other matrix normal(0, ``initializer_range``).
    """
    if not shapes:
        return {}  # a complete checkpoint: not even numpy.random (15 ms of start-up) is needed
    rng = np.random.default_rng(seed)
    out = {}
    for key in sorted(shapes):
        shape = shapes[key]
        if key.endswith("LayerNorm.weight"):
            out[key] = np.ones(shape, dtype=dtype)
        elif key.endswith("bias"):
            out[key] = np.zeros(shape, dtype=dtype)
        else:
            out[key] = rng.normal(0.0, initializer_range, shape).astype(dtype)
    return out


def _batch_shape(input_ids: Any, inputs_embeds: Any, rank: int) -> tuple[int, ...] | None:
    """The leading ``rank`` dims of the inputs, to validate labels before running the model."""
    src = input_ids if input_ids is not None else inputs_embeds
    if src is None or np.ndim(src) < rank:
        return None
    return tuple(np.shape(src)[:rank])


# ---------------------------------------------------------------------------------------------
# Shared loading / saving
# ---------------------------------------------------------------------------------------------
def _split_rows(x: Array, sizes: list[int]) -> list[Array]:
    """``x`` cut along its first axis into consecutive parts of ``sizes`` rows."""
    return np.split(x, np.cumsum(sizes)[:-1])


class RoFormerPreTrainedHead(InferenceModeMixin):
    """Shared machinery of the head classes: checkpoint matching, tying, init of new weights, saving."""

    head_kind: ClassVar[str] = ""
    extra_files: ClassVar[tuple[str, ...]] = ()  # files beside the weights that from_pretrained reads
    base_model_prefix = "roformer"

    @property
    def linear(self) -> Linear:
        """The head projections' ``linear``: the base model's backend (native kernels or the reference)."""
        return self.roformer.kernels().linear

    def __init__(
        self,
        config: RoFormerConfig,
        weights: dict[str, Array],
        dtype: np.dtype | type | str = np.float32,
        backend: str | None = None,
        init_seed: int = 0,
        source: str = "the given weights",
        quantize: str | None = None,
    ) -> None:
        self._prepare_config(config)
        self.config = config
        base, head, missing, unexpected = split_head_checkpoint(weights, self.head_kind, config)
        self.roformer = RoFormerModel(config, base, dtype=dtype, backend=backend, quantize=quantize)
        self.dtype, self.precision = self.roformer.dtype, self.roformer.precision
        aliases = tied_aliases(self.head_kind, config)
        own = {k: s for k, s in head_shapes(self.head_kind, config).items() if k not in aliases}
        new_keys = sorted(k for k in own if k not in head)
        self.head_weights: dict[str, Array] = {k: v for k, v in head.items() if k in own}
        self.head_weights.update(
            init_weights({k: own[k] for k in new_keys}, config.initializer_range, self.dtype, init_seed)
        )
        self.head_weights = self._held(self.head_weights, set(lowp_weight_keys(own)))
        self.newly_initialized_keys = new_keys
        self.missing_keys = sorted([BASE_PREFIX + k for k in self.roformer.missing_keys] + missing)
        self.unexpected_keys = sorted([BASE_PREFIX + k for k in self.roformer.unexpected_keys] + unexpected)
        name = type(self).__name__
        if new_keys:
            warnings.warn(
                f"Some weights of {name} were not initialized from {source} and are newly initialized: {new_keys}. "
                "Train this head before using its predictions.",
                stacklevel=3,
            )
        if self.unexpected_keys:
            warnings.warn(
                f"Some weights of {source} were not used when initializing {name}: {self.unexpected_keys}",
                stacklevel=3,
            )

    def _prepare_config(self, config: RoFormerConfig) -> None:
        """Hook for heads that adjust the config, as Hugging Face's constructors do."""

    def _held(self, weights: dict[str, Any], matrices: set[str]) -> dict[str, Any]:
        """The head's tensors as the model holds them: in its dtype, or for a bf16 / int8 model its ``matrices``
        (the head's linear weights) as bf16 / int8 containers and the rest float32."""
        if self.precision not in LOWP_PRECISIONS:
            if any(isinstance(v, lowp.Int8Weight) for v in weights.values()):
                raise ValueError(f"the head weights hold int8 tensors: pass quantize='int8' (they are not "
                                 f"dequantized into a {self.precision} model)")
            return {k: np.asarray(v, dtype=self.dtype) for k, v in weights.items()}
        return {k: lowp.convert(v, self.precision, release_pages) if k in matrices else
                (v.unpack() if isinstance(v, lowp.BF16Weight) else np.asarray(v, dtype=np.float32))
                for k, v in weights.items()}

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls: type[_Head],
        path: str | os.PathLike,
        dtype: np.dtype | type | str | None = None,
        backend: str | None = None,
        config: RoFormerConfig | None = None,
        init_seed: int = 0,
        check_finite: bool = True,
        quantize: str | None = None,
        **hub: Any,
    ) -> _Head:
        """Load ``config.json`` and the weights of a Hugging Face checkpoint of this head (or of the base model):
        a directory or a Hub repository id (``hub``: ``revision``, ``cache_dir``, ``local_files_only``,
        ``token``, ``force_download``, as in transformers; see :mod:`roformer_np.hub`).

        Head parameters absent from the checkpoint are newly initialised from ``init_seed`` (with a warning);
        unused checkpoint tensors are listed in ``unexpected_keys`` (with a warning). Weights holding NaN or
        ±inf are refused (:class:`~roformer_np.weights.CheckpointError` naming the tensor) unless
        ``check_finite=False``. ``dtype`` / ``quantize``: as :meth:`RoFormerModel.from_pretrained` (bf16 or int8
        weights, the head's linear weights included).
        """
        where = f"{cls.__name__}.from_pretrained"
        overrides = hub
        hub = pop_hub_kwargs(overrides, where)
        # transformers' habit: from_pretrained(path, num_labels=3, output_hidden_states=True) overrides config.json
        config = config_for_loading(path, config, overrides, hub, where)
        config, weights, path, precision = read_checkpoint(
            path, dtype, config, cls.extra_files, check_finite=check_finite, quantize=quantize, **hub)
        model = cls(config, weights, backend=backend, init_seed=init_seed, source=f"the checkpoint at {path}",
                    **precision)
        model._load_extra_files(path)
        return model

    def _load_extra_files(self, path: Path) -> None:
        """Hook for files beside the weights (the causal LM reads ``generation_config.json``)."""

    def _save_extra_files(self, directory: Path) -> None:
        """Hook for files written beside the weights."""

    def state_dict(self) -> dict[str, Array]:
        """Every parameter under its Hugging Face name; tied aliases are left out, as Hugging Face saves. Float
        arrays (a bf16 / int8 model's weights widened / dequantized)."""
        weights = add_prefix(self.roformer.state_dict())
        weights.update({k: np.asarray(v) for k, v in self.head_weights.items()})
        return weights

    def low_precision_state(self) -> dict[str, Any]:
        """As :meth:`state_dict`, with the bf16 / int8 tensors as their containers (what save_pretrained writes)."""
        weights = add_prefix(self.roformer.low_precision_state())
        weights.update(self.head_weights)
        return weights

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` and ``model.safetensors``, loadable by Hugging Face's class of the same name (a
        bf16 / int8 model: its weights as held, see :meth:`RoFormerModel.save_pretrained`)."""
        directory = Path(directory)
        self.config.architectures = [type(self).__name__]
        save_checkpoint(directory, self.config, self.precision, self.state_dict, self.low_precision_state)
        self._save_extra_files(directory)
        return directory

    # -- forward helpers -------------------------------------------------------------------------
    def _pack(
        self,
        output_cls: type[ModelOutput],
        return_dict: bool | None,
        base: BaseModelOutputWithPastAndCrossAttentions,
        loss: Array | None,
        **fields: Array,
    ) -> ModelOutput | tuple:
        """Hugging Face's outputs: the output class, or ``(loss?, *fields, *base outputs after the first)``."""
        return_dict = self.config.return_dict if return_dict is None else return_dict
        names = {f.name for f in dataclasses.fields(output_cls)}
        if not return_dict:  # the pooler's output only where JunnyU's class returns it (the causal LM)
            rest = tuple(v for k, v in zip(base.keys()[1:], base.to_tuple()[1:]) if k != "pooler_output"
                         or k in names)
            return ((loss,) if loss is not None else ()) + tuple(fields.values()) + rest
        extra = {k: getattr(base, k) for k in ("pooler_output", "past_key_values", "hidden_states", "attentions",
                                               "cross_attentions") if k in names}
        return output_cls(loss=loss, **fields, **extra)

    __call__: Callable[..., Any]

    def _token_head_groups(self, groups: list[tuple[Any, Any]], head: str) -> list[Array]:
        """``linear(hidden)`` with the ``head`` projection for every token of each group, [B_g, T_g, out]:
        the groups' encoder pass shared, the projection one GEMM over all their tokens."""
        hidden = self.roformer.forward_length_groups(groups)
        tokens = np.concatenate([h.reshape(1, -1, h.shape[-1]) for h in hidden], axis=1)  # [1, N, C]
        w = self.head_weights
        logits = self.linear(tokens, w[f"{head}.weight"], w[f"{head}.bias"])[0]  # [N, out]
        parts = _split_rows(logits, [h.shape[0] * h.shape[1] for h in hidden])
        return [part.reshape(*h.shape[:2], -1) for part, h in zip(parts, hidden)]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self(*args, **kwargs)


class _LMHeadMixin:
    """The ``cls.predictions`` head shared by the masked and causal LM classes."""

    head_weights: dict[str, Array]
    roformer: RoFormerModel
    config: RoFormerConfig

    @property
    def decoder_weight(self) -> Array:
        """[V, E]: the word embeddings when tied, else the checkpoint's own decoder matrix."""
        if self.config.tie_word_embeddings:
            return self.roformer.params.word_embeddings
        return self.head_weights[DECODER_WEIGHT_KEY]

    def lm_logits(self, hidden: Array) -> Array:
        """[B, T, C] -> [B, T, V]. RoFormer-V2's head is the bare (tied) decoder: no transform, no bias."""
        w = self.head_weights
        if junnyu_field(self.config, "norm_type") != "layer_norm":
            return self.linear(hidden, self.decoder_weight)
        p = "cls.predictions.transform."
        return lm_head(
            hidden, w[p + "dense.weight"], w[p + "dense.bias"], w[p + "LayerNorm.weight"], w[p + "LayerNorm.bias"],
            self.decoder_weight, w[LM_BIAS_KEY], self.config.layer_norm_eps, self.config.hidden_act, self.linear,
        )


# ---------------------------------------------------------------------------------------------
# The heads
# ---------------------------------------------------------------------------------------------
class RoFormerForMaskedLM(_LMHeadMixin, RoFormerPreTrainedHead):
    """Masked language modelling: logits over the vocabulary at every position."""

    head_kind = "masked_lm"

    def _prepare_config(self, config: RoFormerConfig) -> None:
        if config.is_decoder:
            warnings.warn("RoFormerForMaskedLM expects config.is_decoder=False for bi-directional attention",
                          stacklevel=4)

    def __call__(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        head_mask: Any = None,
        inputs_embeds: Any = None,
        encoder_hidden_states: Any = None,
        encoder_attention_mask: Any = None,
        labels: Any = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> MaskedLMOutput | tuple:
        """labels [B, T]: token ids in [0, vocab_size) or -100 (not scored)."""
        shape = _batch_shape(input_ids, inputs_embeds, 2)
        if labels is not None and shape is not None:
            labels = check_class_labels(labels, shape, self.config.vocab_size)
        base = self.roformer(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, head_mask=head_mask,
            inputs_embeds=inputs_embeds, encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, return_dict=True,
        )
        logits = self.lm_logits(base.last_hidden_state)  # [B, T, V]
        loss = None if labels is None else masked_lm_loss(logits, labels, self.config.vocab_size)
        return self._pack(MaskedLMOutput, return_dict, base, loss, logits=logits)


class RoFormerForCausalLM(_LMHeadMixin, RoFormerPreTrainedHead):
    """Left-to-right language modelling (set ``is_decoder=True`` for causal attention), with :meth:`generate`."""

    head_kind = "causal_lm"
    extra_files = (GENERATION_CONFIG_NAME,)

    def _prepare_config(self, config: RoFormerConfig) -> None:
        if not config.is_decoder:
            warnings.warn("RoFormerForCausalLM is used with is_decoder=False: attention is bidirectional "
                          "(generate() then behaves as a prefix LM, as Hugging Face's does)", stacklevel=4)
        # generate()'s defaults beyond the config (generation_config.json), or those HF derives from the config
        self.generation_config = GenerationConfig.from_model_config(config)

    def _load_extra_files(self, path: Path) -> None:
        file = path / GENERATION_CONFIG_NAME
        if path.is_dir() and file.is_file():
            self.generation_config = GenerationConfig.from_pretrained(file)

    def _save_extra_files(self, directory: Path) -> None:
        """``generation_config.json``: the fields that differ from Hugging Face's defaults, as it writes them."""
        self.generation_config.save_pretrained(directory, GENERATION_CONFIG_NAME)

    def __call__(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        inputs_embeds: Any = None,
        encoder_hidden_states: Any = None,
        encoder_attention_mask: Any = None,
        head_mask: Any = None,
        cross_attn_head_mask: Any = None,
        past_key_values: Any = None,
        labels: Any = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        *,
        num_items_in_batch: int | Array | None = None,
        shift_labels: Any = None,
    ) -> CausalLMOutputWithCrossAttentions | tuple:
        """labels [B, T] (shifted inside: position t is scored against labels[t + 1]; -100 not scored).

        ``cross_attn_head_mask`` is accepted and ignored, as in Hugging Face. ``num_items_in_batch`` divides
        the summed loss instead of averaging; ``shift_labels`` [B, T] are used as already shifted.
        """
        shape = _batch_shape(input_ids, inputs_embeds, 2)
        if labels is not None and shape is not None:
            labels = check_class_labels(labels, shape, self.config.vocab_size)
            if shift_labels is not None:
                shift_labels = check_class_labels(shift_labels, shape, self.config.vocab_size, "shift_labels")
        base = self.roformer(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, head_mask=head_mask,
            inputs_embeds=inputs_embeds, encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask, past_key_values=past_key_values, use_cache=use_cache,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
        )
        logits = self.lm_logits(base.last_hidden_state)  # [B, T, V]
        loss = None
        if labels is not None:
            loss = causal_lm_loss(logits, labels, self.config.vocab_size, num_items_in_batch, IGNORE_INDEX,
                                  shift_labels)
        return self._pack(CausalLMOutputWithCrossAttentions, return_dict, base, loss, logits=logits)

    generate = generate


class RoFormerForSequenceClassification(RoFormerPreTrainedHead):
    """Sentence classification / regression on the first token; ``problem_type`` as Hugging Face infers it."""

    head_kind = "sequence_classification"

    def __call__(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        head_mask: Any = None,
        inputs_embeds: Any = None,
        labels: Any = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        """labels: [B] ints (single-label), [B] floats (regression, num_labels == 1) or [B, N] (multi-label).

        When ``config.problem_type`` is None it is inferred from ``num_labels`` and the label dtype and
        written back into the config, as Hugging Face does.
        """
        base = self.roformer(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, head_mask=head_mask,
            inputs_embeds=inputs_embeds, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, return_dict=True,
        )
        w = self.head_weights
        logits = classification_head(
            base.last_hidden_state, w["classifier.dense.weight"], w["classifier.dense.bias"],
            w["classifier.out_proj.weight"], w["classifier.out_proj.bias"], self.config.hidden_act, self.linear,
        )  # [B, N]
        loss = None
        if labels is not None:
            loss, problem_type = sequence_classification_loss(
                logits, labels, self.config.num_labels, self.config.problem_type
            )
            self.config.problem_type = problem_type
        return self._pack(SequenceClassifierOutput, return_dict, base, loss, logits=logits)

    def forward_length_groups(self, groups: list[tuple[Any, Any]]) -> list[Array]:
        """Each group's logits [B_g, N], as ``self(input_ids, token_type_ids=...).logits`` of the group alone:
        the groups share one pass (:meth:`RoFormerModel.forward_length_groups`), the head one GEMM."""
        hidden = self.roformer.forward_length_groups(groups)
        firsts = np.concatenate([h[:, :1] for h in hidden])  # [R, 1, C]: the first token of every row
        w = self.head_weights
        logits = classification_head(
            firsts, w["classifier.dense.weight"], w["classifier.dense.bias"], w["classifier.out_proj.weight"],
            w["classifier.out_proj.bias"], self.config.hidden_act, self.linear,
        )  # [R, N]
        return _split_rows(logits, [h.shape[0] for h in hidden])


class RoFormerForMultipleChoice(RoFormerPreTrainedHead):
    """Scores K choices per example: [B, K, T] inputs are run as B*K rows and pooled (last token by default)."""

    head_kind = "multiple_choice"

    def _prepare_config(self, config: RoFormerConfig) -> None:
        summary_type = getattr(config, "summary_type", "last")
        if summary_type == "attn":
            raise NotImplementedError("summary_type='attn' is not implemented (nor is it in Hugging Face)")
        if summary_type not in SUMMARY_TYPES:
            raise ValueError(f"config.summary_type must be one of {SUMMARY_TYPES}, got {summary_type!r}")
        shapes = head_shapes(self.head_kind, config)
        proj = shapes.get("sequence_summary.summary.weight")
        if proj is not None and proj[0] != config.hidden_size:
            raise ValueError(
                f"summary_proj_to_labels projects to num_labels={proj[0]}, but the choice classifier expects "
                f"hidden_size={config.hidden_size} inputs"
            )

    def __call__(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        head_mask: Any = None,
        inputs_embeds: Any = None,
        labels: Any = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> MultipleChoiceModelOutput | tuple:
        """input_ids, attention_mask, token_type_ids: [B, K, T]; inputs_embeds [B, K, T, E]; labels [B] in [0, K)."""
        shape = _batch_shape(input_ids, inputs_embeds, 3)
        if shape is None:
            raise ValueError("input_ids must be [batch, num_choices, seq] (or inputs_embeds [batch, num_choices, "
                             "seq, embedding_size])")
        b, k = shape[:2]
        if labels is not None:
            labels = check_class_labels(labels, (b,), k)

        def flat(x: Any, rank: int, name: str) -> Array | None:
            if x is None:
                return None
            x = np.asarray(x)
            if x.ndim != rank or x.shape[:2] != (b, k):
                raise ValueError(f"{name} has shape {x.shape}, expected [batch={b}, num_choices={k}, ...] "
                                 f"with {rank} dims")
            return x.reshape((b * k,) + x.shape[2:])  # [B, K, T, ...] -> [B*K, T, ...]

        base = self.roformer(
            flat(input_ids, 3, "input_ids"), attention_mask=flat(attention_mask, 3, "attention_mask"),
            token_type_ids=flat(token_type_ids, 3, "token_type_ids"), head_mask=head_mask,
            inputs_embeds=flat(inputs_embeds, 4, "inputs_embeds"), output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, return_dict=True,
        )
        w = self.head_weights
        pooled = sequence_summary(
            base.last_hidden_state, getattr(self.config, "summary_type", "last"),
            w.get("sequence_summary.summary.weight"), w.get("sequence_summary.summary.bias"),
            getattr(self.config, "summary_activation", None), self.linear,
        )  # [B*K, C]
        logits = self.linear(pooled, w["classifier.weight"], w["classifier.bias"]).reshape(b, k)  # [B, K]
        loss = None if labels is None else cross_entropy(logits, labels)
        return self._pack(MultipleChoiceModelOutput, return_dict, base, loss, logits=logits)


class RoFormerForTokenClassification(RoFormerPreTrainedHead):
    """A label per token (e.g. NER); the loss scores every position whose label is not -100."""

    head_kind = "token_classification"

    def __call__(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        head_mask: Any = None,
        inputs_embeds: Any = None,
        labels: Any = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> TokenClassifierOutput | tuple:
        """labels [B, T] in [0, num_labels) or -100. The attention mask does not mask the loss (as in HF)."""
        shape = _batch_shape(input_ids, inputs_embeds, 2)
        n = self.config.num_labels
        if labels is not None and shape is not None:
            labels = check_class_labels(labels, shape, n)
        base = self.roformer(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, head_mask=head_mask,
            inputs_embeds=inputs_embeds, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, return_dict=True,
        )
        w = self.head_weights
        logits = self.linear(base.last_hidden_state, w["classifier.weight"], w["classifier.bias"])  # [B, T, N]
        loss = None if labels is None else cross_entropy(logits.reshape(-1, n), labels.reshape(-1))
        return self._pack(TokenClassifierOutput, return_dict, base, loss, logits=logits)

    def forward_length_groups(self, groups: list[tuple[Any, Any]]) -> list[Array]:
        """Each group's logits [B_g, T_g, N], as ``self(input_ids, token_type_ids=...).logits`` of the group
        alone: the groups share one pass (:meth:`RoFormerModel.forward_length_groups`), the head one GEMM."""
        return self._token_head_groups(groups, "classifier")


class RoFormerForQuestionAnswering(RoFormerPreTrainedHead):
    """Extractive QA: start and end logits per token. Sets ``config.num_labels = 2`` as Hugging Face does."""

    head_kind = "question_answering"

    def _prepare_config(self, config: RoFormerConfig) -> None:
        config.num_labels = 2

    def __call__(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        head_mask: Any = None,
        inputs_embeds: Any = None,
        start_positions: Any = None,
        end_positions: Any = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> QuestionAnsweringModelOutput | tuple:
        """start_positions, end_positions: [B] token indices; out-of-range ones are clamped and not scored.

        The loss is computed only when both are given (as in Hugging Face).
        """
        base = self.roformer(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, head_mask=head_mask,
            inputs_embeds=inputs_embeds, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, return_dict=True,
        )
        w = self.head_weights
        start, end = span_head(
            base.last_hidden_state, w["qa_outputs.weight"], w["qa_outputs.bias"], self.linear
        )  # [B, T] x2
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = question_answering_loss(start, end, start_positions, end_positions)
        return self._pack(QuestionAnsweringModelOutput, return_dict, base, loss, start_logits=start, end_logits=end)

    def forward_length_groups(self, groups: list[tuple[Any, Any]]) -> list[tuple[Array, Array]]:
        """Each group's (start, end) logits, [B_g, T_g] each, as ``self(...)`` gives them for the group alone:
        the groups share one pass (:meth:`RoFormerModel.forward_length_groups`), the head one GEMM."""
        return [(np.ascontiguousarray(g[..., 0]), np.ascontiguousarray(g[..., 1]))
                for g in self._token_head_groups(groups, "qa_outputs")]


HEAD_CLASSES = {
    cls.head_kind: cls
    for cls in (RoFormerForMaskedLM, RoFormerForCausalLM, RoFormerForSequenceClassification,
                RoFormerForMultipleChoice, RoFormerForTokenClassification, RoFormerForQuestionAnswering)
}
