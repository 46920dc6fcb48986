"""Emotion heads over windows of 64-d ExpNet betas, their training / evaluation loops and the CLI."""

from talkingface.emotion.apply import apply_head, blend, predict
from talkingface.emotion.checkpoint import load_classifier, load_head, save_module
from talkingface.emotion.classifier import ClassifierConfig, ExpressionClassifier
from talkingface.emotion.data import BetaClip, split_clips
from talkingface.emotion.heads import HEADS, build_head, head_config
from talkingface.emotion.linear import LinearConfig
from talkingface.emotion.metrics import emotion_accuracy, evaluate_head, expression_errors
from talkingface.emotion.mlp import MLPConfig
from talkingface.emotion.tcn import TCNConfig
from talkingface.emotion.train import TrainConfig, train_classifier, train_epoch, train_head
from talkingface.emotion.transformer import TransformerConfig

__all__ = [
    "HEADS",
    "BetaClip",
    "ClassifierConfig",
    "ExpressionClassifier",
    "LinearConfig",
    "MLPConfig",
    "TCNConfig",
    "TrainConfig",
    "TransformerConfig",
    "apply_head",
    "blend",
    "build_head",
    "emotion_accuracy",
    "evaluate_head",
    "expression_errors",
    "head_config",
    "load_classifier",
    "load_head",
    "predict",
    "save_module",
    "split_clips",
    "train_classifier",
    "train_epoch",
    "train_head",
]
