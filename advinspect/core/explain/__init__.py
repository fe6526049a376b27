"""Saliency maps through captum: gradients, SmoothGrad, Integrated Gradients, Grad-CAM, occlusion."""

from advinspect.core.explain.saliency import METHODS, conv_layers, saliency

__all__ = ["METHODS", "conv_layers", "saliency"]
