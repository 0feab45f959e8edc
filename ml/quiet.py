"""TensorFlow's and LiteRT's start-up chatter kept off the terminal, and nothing else.

Their C++ code writes to file descriptor 2 directly ("oneDNN custom operations are on", "Created
TensorFlow Lite XNNPACK delegate for CPU", absl's pre-init warning), where neither TF_CPP_MIN_LOG_LEVEL
(TF 2.21 prints oneDNN's line regardless) nor Python's logging reaches. While a noisy step runs,
descriptor 2 goes to a file; afterwards every line that is not known chatter is written back, so a real
warning or error is never lost. ``LOG_LEVEL=DEBUG`` keeps everything.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

CHATTER = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"port.cc:153] oneDNN custom operations are on",
    b"cpu_feature_guard.cc",
    b"To enable the following instructions:",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
)
logger = logging.getLogger("digits.ml")


def wanted() -> bool:
    """Quiet unless LOG_LEVEL=DEBUG (read here, not in the settings: the ML core's own CLI runs without them)."""
    return os.environ.get("LOG_LEVEL", "").strip().upper() != "DEBUG"


@contextlib.contextmanager
def native_chatter_filtered() -> Iterator[None]:
    if not wanted():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().splitlines(keepends=True) if not any(c in line for c in CHATTER)]
            if kept:
                os.write(2, b"".join(kept))


@contextlib.contextmanager
def stdout_to_debug_log(what: str) -> Iterator[None]:
    """A library's prints (Keras' export lists every captured tensor) become one DEBUG log record."""
    if not wanted():
        yield
        return
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        yield
    if captured.getvalue().strip():
        logger.debug("%s printed:\n%s", what, captured.getvalue().rstrip())


def import_tensorflow() -> None:
    """Import TensorFlow and Keras once, without their start-up chatter."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own C++ log: warnings and errors only
    with native_chatter_filtered():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
