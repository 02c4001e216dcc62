"""The screen sampler's parts on their own: mode jump, slow curves, sweep cost, drug mixing."""
