"""The pre-traffic hook CodeDeploy runs before it shifts traffic to a new version (template.yaml,
``DeploymentPreference.Hooks.PreTraffic``): it invokes that version directly with function-URL events,
then reports Succeeded or Failed. The checks are ``service.deploy.pretraffic`` (in the shared layer).

Environment: ``TARGET_VERSION``, the new version's ARN (``!Ref <Function>.Version``: the hook's event
does not name it); ``CHECK``, ``predict`` (the golden images beside this file) or ``train``.
"""

import json
import logging
import os
from pathlib import Path

from service.deploy.pretraffic import check_predict, check_train, gate, golden

logger = logging.getLogger("digits.pretraffic")
logger.setLevel(logging.INFO)
GOLDEN = Path(__file__).resolve().parent / "golden"


def invoker(client, version_arn: str):
    """``send(event) -> result`` through ``lambda.invoke`` of exactly ``version_arn``; an unhandled error in
    the function comes back as a 502, as a function URL would answer it."""

    def send(event: dict) -> dict:
        answer = client.invoke(FunctionName=version_arn, Payload=json.dumps(event).encode())
        payload = answer["Payload"].read().decode("utf-8", "replace")
        if answer.get("FunctionError"):
            return {"statusCode": 502, "body": payload}
        result = json.loads(payload)
        return result if isinstance(result, dict) and "statusCode" in result else {"statusCode": 200, "body": payload}

    return send


def lambda_handler(event, context):
    import boto3

    version = os.environ["TARGET_VERSION"]
    send = invoker(boto3.client("lambda"), version)
    check = os.environ.get("CHECK", "predict")

    def problems() -> list[str]:
        return check_predict(send, golden(GOLDEN)) if check == "predict" else check_train(send)

    def report(status: str) -> None:
        boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
            deploymentId=event["DeploymentId"],
            lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
            status=status,
        )

    found = gate(problems, report)
    logger.info(json.dumps({"version": version, "check": check, "passed": not found, "problems": found}))
    return {"passed": not found, "problems": found}
