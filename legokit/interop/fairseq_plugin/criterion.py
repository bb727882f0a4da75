"""fairseq criterion ``anti_focal``: legokit.losses' anti-focal loss (Raunak et al., 2020) for fairseq models.

L = -Σ_t (1 + α·sg(p_t))^γ · log p_t, or with label smoothing ε every class log-prob weighted by
(1 + α·sg(p_c))^γ (ε spread over all V classes, as in the paper's fairseq fork). Logged like fairseq's
label_smoothed_cross_entropy: ``loss`` (base 2, per sample_size) and ``nll_loss`` (base 2, per token).
"""

import math
from dataclasses import dataclass, field

import torch.nn.functional as F
from fairseq import metrics, utils
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass
from omegaconf import II

from legokit.losses import anti_focal_loss, label_smoothed_anti_focal_loss


@dataclass
class AntiFocalCriterionConfig(FairseqDataclass):
    af_gamma: float = field(default=1.0, metadata={"help": "exponent γ of the anti-focal weight (1 + α·p)^γ"})
    af_alpha: float = field(default=0.5, metadata={"help": "α of the anti-focal weight (smoothed paper runs: 1)"})
    label_smoothing: float = field(default=0.0, metadata={"help": "ε, spread over all V classes (0 = none)"})
    sentence_avg: bool = II("optimization.sentence_avg")


@register_criterion("anti_focal", dataclass=AntiFocalCriterionConfig)
class AntiFocalCriterion(FairseqCriterion):
    """Token-level anti-focal loss, summed over non-padding target tokens."""

    def __init__(self, task, sentence_avg: bool, af_gamma: float = 1.0, af_alpha: float = 0.5,
                 label_smoothing: float = 0.0) -> None:
        super().__init__(task)
        self.sentence_avg = sentence_avg
        self.gamma, self.alpha, self.epsilon = af_gamma, af_alpha, label_smoothing

    def forward(self, model, sample, reduce: bool = True):
        net_output = model(**sample["net_input"])
        logits = net_output[0].view(-1, net_output[0].size(-1))  # (B*U, V)
        target = model.get_targets(sample, net_output).view(-1)  # (B*U,)
        reduction = "sum" if reduce else "none"
        if self.epsilon > 0:
            loss = label_smoothed_anti_focal_loss(logits, target, self.epsilon, self.gamma, self.alpha,
                                                  ignore_index=self.padding_idx, reduction=reduction)
        else:
            loss = anti_focal_loss(logits, target, self.gamma, self.alpha, ignore_index=self.padding_idx,
                                   reduction=reduction)
        nll_loss = F.cross_entropy(logits.float(), target, ignore_index=self.padding_idx, reduction=reduction)
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        logging_output = {"loss": loss.data, "nll_loss": nll_loss.data, "ntokens": sample["ntokens"],
                          "nsentences": sample["target"].size(0), "sample_size": sample_size}
        return loss, sample_size, logging_output

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        def total(key: str) -> float:
            return sum(log.get(key, 0) for log in logging_outputs)

        sample_size, ntokens = total("sample_size"), total("ntokens")
        metrics.log_scalar("loss", total("loss") / sample_size / math.log(2), sample_size, round=3)
        metrics.log_scalar("nll_loss", total("nll_loss") / ntokens / math.log(2), ntokens, round=3)
        metrics.log_derived("ppl", lambda meters: utils.get_perplexity(meters["nll_loss"].avg))

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
