"""Framework-free training pieces for ExpNet and PoseVAE: inputs, losses, exports, resumable state."""
