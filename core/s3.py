"""Job files in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Cloudflare R2, Backblaze B2)
through boto3. One PUT per file with its Content-MD5: S3 makes an object visible only once its
whole body has arrived and matched the digest, so a write is complete or absent, as in a
directory. Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the settings when set,
else boto3's own chain (environment, ~/.aws, an instance or task role)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from core.storage import Store, check_key

MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Store(Store):
    """Keys under `prefix/` in `bucket`."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 public_endpoint_url: str | None = None, region: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, connections: int = 10):
        if not bucket:
            raise ValueError("STORAGE_URL names no bucket: s3://bucket/prefix")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint_url = endpoint_url
        session = boto3.session.Session(aws_access_key_id=access_key or None,
                                        aws_secret_access_key=secret_key or None, region_name=region or None)
        config = Config(
            # A custom endpoint (MinIO, Ceph) is addressed by path; AWS picks its own style.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            signature_version="s3v4", connect_timeout=5, read_timeout=30,
            retries={"max_attempts": 4, "mode": "standard"}, max_pool_connections=connections,
            # The Content-MD5 of each PUT is the integrity check every S3 store knows; botocore's
            # own CRC32 of every body, both ways, would hash each file a second time.
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        self.client = session.client("s3", endpoint_url=endpoint_url or None, config=config)
        # Presigned URLs are signed for the host clients will use (signing needs no network).
        self.signer = (session.client("s3", endpoint_url=public_endpoint_url, config=config)
                       if public_endpoint_url else self.client)

    @classmethod
    def from_url(cls, url: str, settings) -> S3Store:
        parts = urlsplit(url)
        return cls(parts.netloc, parts.path, endpoint_url=settings.s3_endpoint_url or None,
                   public_endpoint_url=settings.s3_public_endpoint_url or None,
                   region=settings.aws_default_region, access_key=settings.aws_access_key_id,
                   secret_key=settings.aws_secret_access_key, connections=max(10, 2 * settings.worker_threads))

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"bucket s3://{self.bucket}/{self.prefix}{where}"

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        digest = base64.b64encode(hashlib.md5(data).digest()).decode()
        self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data, ContentMD5=digest)

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"].read()
        except ClientError as exc:
            if _code(exc) in MISSING:
                raise FileNotFoundError(key) from None
            raise

    def size(self, key: str) -> int | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._name(key))["ContentLength"]
        except ClientError as exc:
            if _code(exc) in MISSING:
                return None
            raise

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def list_keys(self) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", ()):
                key = item["Key"][len(start):]
                try:
                    yield check_key(key)
                except ValueError:
                    continue  # not a job file (another tenant of the bucket)

    def explain(self, exc: BaseException) -> str:
        return explain(exc)

    def url(self, key: str, *, content_type: str, seconds: int, disposition: str | None = None) -> str | None:
        params = {"Bucket": self.bucket, "Key": self._name(key), "ResponseContentType": content_type}
        if disposition:
            params["ResponseContentDisposition"] = disposition
        return self.signer.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def explain(exc: BaseException) -> str:
    """What is wrong, in the operator's terms: credentials, bucket, endpoint or permissions."""
    if isinstance(exc, NoCredentialsError):
        return "credentials: none found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(exc, EndpointConnectionError):
        return f"endpoint: cannot connect to {exc.kwargs.get('endpoint_url', 'the endpoint')} (check S3_ENDPOINT_URL)"
    if isinstance(exc, ClientError):
        code = _code(exc)
        if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}:
            return f"credentials: {code} (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        if code in {"NoSuchBucket", "PermanentRedirect", "AuthorizationHeaderMalformed"}:
            return f"bucket: {code} (check the bucket in STORAGE_URL, and AWS_DEFAULT_REGION)"
        if code in {"AccessDenied", "AllAccessDisabled", "403"}:
            return "permissions: access denied (the key needs s3:PutObject, GetObject, DeleteObject, ListBucket)"
        return f"{code}: {exc.response.get('Error', {}).get('Message', exc)}"
    if isinstance(exc, BotoCoreError):
        return f"endpoint: {exc}"
    return str(exc)
