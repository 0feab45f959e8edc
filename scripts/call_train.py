"""Call the train function from CI and fail the job when the gate refuses the model.

    python scripts/call_train.py --url URL --params params.json [--token T] [--sigv4] [--out result.json]
    python scripts/call_train.py --region-of URL

The token is --token, else the TRAIN_TOKEN environment variable. With --sigv4 the request is signed with the
job's AWS credentials for the region the function URL names (https://<id>.lambda-url.<region>.on.aws/) and
the token goes in X-Train-Token (Authorization carries the signature). Writes the response to --out and the
confusion matrix next to it as confusion.png.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


FUNCTION_URL = re.compile(r"^https?://[a-z0-9]+\.lambda-url\.([a-z]{2}(?:-[a-z]+)+-\d+)\.on\.aws(?::\d+)?(?:/|$)")


def region_of(url: str) -> str:
    """The region a function URL names; anything else is refused, since a signature for the wrong region
    is refused by AWS with a 403 that does not say so."""
    found = FUNCTION_URL.match(url)
    if not found:
        raise SystemExit(f"{url!r} is not a function URL (https://<id>.lambda-url.<region>.on.aws/)")
    return found.group(1)


def signed_headers(url: str, body: bytes) -> dict[str, str]:
    """SigV4 for an AWS_IAM function URL (service 'lambda', the URL's region), from the job's AWS credentials."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise SystemExit("--sigv4: no AWS credentials (aws-actions/configure-aws-credentials sets them in CI)")
    request = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, "lambda", region_of(url)).add_auth(request)
    return dict(request.headers)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--region-of", metavar="URL", help="print the region a function URL names, and exit")
    parser.add_argument("--url")
    parser.add_argument("--params", type=Path)
    parser.add_argument("--token", help="the train token (default: the TRAIN_TOKEN environment variable)")
    parser.add_argument("--sigv4", action="store_true", help="sign with AWS credentials (deployed function)")
    parser.add_argument("--out", type=Path, default=Path("result.json"))
    parser.add_argument("--timeout", type=float, default=1000)
    args = parser.parse_args()
    if args.region_of:
        print(region_of(args.region_of))
        return 0
    if not args.url or not args.params:
        parser.error("--url and --params are required")
    token = args.token or os.environ.get("TRAIN_TOKEN", "")
    if not token:
        parser.error("no train token: pass --token or set TRAIN_TOKEN")
    body = args.params.read_bytes()
    if args.sigv4:
        headers = {**signed_headers(args.url, body), "X-Train-Token": token}
    else:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    print(f"training via {args.url} with {body.decode()} ...", flush=True)
    answer = requests.post(args.url, data=body, headers=headers, timeout=args.timeout)
    args.out.write_text(answer.text)
    if answer.status_code != 200:
        print(f"train function answered {answer.status_code}: {answer.text[:2000]}", file=sys.stderr)
        return 1
    result = answer.json()
    metrics = result["metrics"]
    print(f"version {result['version']}: test accuracy {metrics['test_accuracy']:.4f}, promoted={result['promoted']}")
    print(result["reason"])
    try:
        from ml.plots import confusion_png

        (args.out.parent / "confusion.png").write_bytes(confusion_png(metrics["confusion_matrix"], result["version"]))
    except ImportError as exc:
        print(f"(no confusion.png: {exc})")
    return 0 if result["promoted"] else 2


if __name__ == "__main__":
    sys.exit(main())
