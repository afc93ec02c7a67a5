"""The image-gen agent: `generate` and `style-transfer` through a provider, `enhance` locally with Pillow."""
