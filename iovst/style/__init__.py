"""Stylisation: VGG-19 features, losses, the Gatys optimiser, brushstrokes, round 0 and multipass."""
