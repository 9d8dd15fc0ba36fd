#!/usr/bin/env python3
"""Crop a tall headless-Chromium screenshot to the page: drop the rows below
the last one that differs from the page background. Usage: crop.py IN OUT"""

import sys

from PIL import Image

img = Image.open(sys.argv[1]).convert("RGB")
w, h = img.size
bg = img.getpixel((w - 1, h - 1))
px = img.load()
bottom = h
while bottom > 1 and all(px[x, bottom - 1] == bg for x in range(0, w, 3)):
    bottom -= 1
img.crop((0, 0, w, min(h, bottom + 24))).save(sys.argv[2], optimize=True)
