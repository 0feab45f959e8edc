"""Which prediction requests take the costly lane (``service.http.lane``): those whose pictures declare more
pixels than a large photo, told from their headers before any is decoded."""

from __future__ import annotations

from ml.decode import declared_pixels
from service.errors import HTTPError
from service.http.messages import Request
from service.http.uploads import extract_uploads
from service.settings import Settings

# A canvas drawing, a scan or a small photo decodes in milliseconds on the event loop; beyond this many declared
# pixels (a 1000x1000 picture) a request may cost a worker seconds (many large parts), so it runs in the lane
COSTLY_PIXELS = 1_000_000


def costly(settings: Settings):
    """A predicate on requests for ``Entrypoint``: whether this one's pictures declare over COSTLY_PIXELS."""

    def judge(request: Request) -> bool:
        if request.method != "POST" or request.path.rstrip("/") != "":
            return False
        try:
            uploads = extract_uploads(request, settings.max_upload_bytes, settings.max_files_per_request)
        except HTTPError:  # refused by the handler at once: costs nothing
            return False
        total = 0
        for upload in uploads:
            total += declared_pixels(upload.data)
            if total > COSTLY_PIXELS:
                return True
        return False

    return judge
