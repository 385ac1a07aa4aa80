"""Where and with what the stages run: device choice, pretrained weights, GPU slots."""
