"""What a few hundred KB of hostile image would cost without the decode limits, and what it costs now.

For each input: its size; Pillow decoding it fully and widening it to float32 (what the predict path
did before the limits: open, JPEG draft, load, a full-size float array) in a fresh process, its time and
the process's peak RSS; then our `preprocess` in a fresh process (after one ordinary canvas upload, so
its imports and buffers are in the baseline), its answer, time and peak RSS. The last row is that
baseline: the peak of a process that only decoded the canvas.

    .venv/bin/python benchmarks/costly_images.py
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

PILLOW = """
import sys, time
def peak_mb():  # VmHWM: this process's own peak (ru_maxrss would include the parent's, kept across exec)
    return next(int(l.split()[1]) // 1024 for l in open('/proc/self/status') if l.startswith('VmHWM'))

from PIL import Image
Image.MAX_IMAGE_PIXELS = None
data = open(sys.argv[1], 'rb').read()
started = time.perf_counter()
image = Image.open(__import__('io').BytesIO(data))
if image.format == 'JPEG':
    image.draft(image.mode, (512, 512))
image.load()
values = __import__('numpy').asarray(image, dtype='float32')  # the old path widened to float32 at full size
print(f"{time.perf_counter() - started:.2f} s, peak RSS {peak_mb()} MB")
"""

OURS = """
import sys, time
def peak_mb():  # VmHWM: this process's own peak (ru_maxrss would include the parent's, kept across exec)
    return next(int(l.split()[1]) // 1024 for l in open('/proc/self/status') if l.startswith('VmHWM'))

sys.path.insert(0, '.')
from ml.errors import MLError
from ml.preprocess import preprocess
data = open(sys.argv[1], 'rb').read()
preprocess(open('tests/fixtures/golden/3_canvas.png', 'rb').read())
started = time.perf_counter()
try:
    preprocess(data)
    answer = 'a digit'
except MLError as exc:
    answer = exc.code
print(f"{answer} in {time.perf_counter() - started:.2f} s, peak RSS {peak_mb()} MB")
"""


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def inputs() -> dict[str, bytes]:
    flat = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 200, 200)).save(flat, "JPEG", progressive=True)
    jpeg = flat.getvalue()
    last, end = jpeg.rfind(b"\xff\xda"), jpeg.rfind(b"\xff\xd9")
    grey = np.full((5000, 8000), 255, dtype=np.uint8)
    grey[1000:4000, 3500:3900] = 0
    return {
        "progressive JPEG, 4000x3000, 2,000 scans": jpeg[:end] + jpeg[last:end] * 2000 + jpeg[end:],
        "1-bit PNG, 8000x5000": png(Image.fromarray(grey).convert("1")),
        "16-bit PNG, 8000x5000": png(Image.fromarray(grey.astype(np.uint16) * 257)),
    }


def run(code: str, path: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or done.stderr.strip().splitlines()[-1]


def main() -> int:
    print("| input | bytes | decoded fully by Pillow (before the limits) | preprocess now |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in inputs().items():
            path = Path(tmp) / "input"
            path.write_bytes(data)
            print(f"| {name} | {len(data):,} | {run(PILLOW, path)} | {run(OURS, path)} |")
        path = Path(tmp) / "input"
        path.write_bytes((ROOT / "tests/fixtures/golden/3_canvas.png").read_bytes())
        print(f"| baseline: a 280x280 canvas PNG | {path.stat().st_size:,} | {run(PILLOW, path)} | {run(OURS, path)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
