"""Object store on S3 or anything that speaks it (MinIO, SeaweedFS), via boto3.

The endpoint comes from boto3's own ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``
variables; path-style addressing keeps MinIO and SeaweedFS happy.
"""

from __future__ import annotations

from ml.storage.base import NotFound, PreconditionFailed, StoreUnavailable


class S3ObjectStore:
    # A few seconds each, two attempts: the worst case stays well inside the predict function's own time limit
    # on Lambda. A read timeout bounds the wait for the next bytes, not for a whole (large) object.
    def __init__(self, bucket: str, prefix: str = "", connect_timeout: float = 1.0, read_timeout: float = 3.0):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        # a session of its own: the default one caches the first credentials it resolves for the whole process
        self._client = boto3.session.Session().client(
            "s3",
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    def _unavailable(self, action: str, key: str, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"cannot {action} {key!r} in {self.describe()}: {type(exc).__name__}: {exc}")

    def get(self, key: str) -> bytes:
        return self.get_with_token(key)[0]

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("write", key, exc) from exc

    def get_with_token(self, key: str) -> tuple[bytes, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            return answer["Body"].read(), answer["ETag"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(f"no object {key!r} in {self.describe()}") from exc
            raise self._unavailable("read", key, exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("read", key, exc) from exc

    def put_if(self, key: str, data: bytes, token: str | None, content_type: str = "application/octet-stream") -> None:
        """S3 conditional writes: If-Match the ETag read, or If-None-Match * for "must not exist"."""
        from botocore.exceptions import BotoCoreError, ClientError

        condition = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType=content_type, **condition
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise PreconditionFailed(f"{key!r} in {self.describe()} changed since it was read") from exc
            raise self._unavailable("write", key, exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("write", key, exc) from exc

    def list(self, prefix: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("list", prefix, exc) from exc
        return sorted(keys)

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("delete", key, exc) from exc

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"
