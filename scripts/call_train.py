"""Call the train function from CI and fail the job when the gate refuses the model.

    python scripts/call_train.py --url URL --params params.json (--token T | --sigv4) [--out result.json]

Writes the response to --out and the confusion matrix next to it as confusion.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def signed_headers(url: str, body: bytes) -> dict[str, str]:
    """SigV4 for an AWS_IAM function URL (service 'lambda'), from the job's AWS credentials."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = boto3.Session()
    request = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(session.get_credentials(), "lambda", session.region_name or "us-east-1").add_auth(request)
    return dict(request.headers)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--token", help="bearer token (local stack)")
    parser.add_argument("--sigv4", action="store_true", help="sign with AWS credentials (deployed function)")
    parser.add_argument("--out", type=Path, default=Path("result.json"))
    parser.add_argument("--timeout", type=float, default=1000)
    args = parser.parse_args()
    body = args.params.read_bytes()
    headers = {"Content-Type": "application/json"}
    if args.sigv4:
        headers = signed_headers(args.url, body)
    if args.token:
        headers["X-Train-Token" if args.sigv4 else "Authorization"] = (
            args.token if args.sigv4 else f"Bearer {args.token}"
        )
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
