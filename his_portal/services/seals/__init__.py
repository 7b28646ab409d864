"""个性签章: stored seals and the system seal (store), photo decoding and
background removal (image, engines)."""
